// Text rendering: sizes agree between measure and render, follow the documented formulas, the
// ink sits on its lines, opacity and colour are applied, and threads get identical pixels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <thread>

#include "image/text_render.h"
#include "support/test_support.h"
#include "util/error.h"

namespace privprobe {
namespace {

const std::vector<std::string> kProfile = {"username: alice_w", "user_id: 1234567890", "gender: female", "age: 34",
                                           "capture_time: 2021-05-04 10:11:12", "capture_location: Lagos, Nigeria"};

int max_alpha(const Overlay& o) {
  int m = 0;
  for (std::size_t p = 3; p < o.rgba.size(); p += 4) m = std::max<int>(m, o.rgba[p]);
  return m;
}

// Rows [first, last] holding ink, or {-1, -1}.
std::pair<int, int> ink_rows(const Overlay& o) {
  const Box b = o.ink_bounds();
  if (b.empty()) return {-1, -1};
  return {b.y, b.y + b.height - 1};
}

TEST(TextRender, DefaultFontIsInstalled) { EXPECT_TRUE(std::filesystem::exists(default_font_path())); }

TEST(TextRender, MeasureAgreesWithRenderAndFormulas) {
  for (int size : {8, 12, 17, 30}) {
    for (double spacing : {1.0, 1.15, 1.5}) {
      for (int padding : {0, 3}) {
        TextStyle style;
        style.pixel_size = size;
        style.line_spacing = spacing;
        style.padding = padding;
        const Box measured = measure_text(kProfile, style);
        const Overlay rendered = render_text(kProfile, style);
        EXPECT_EQ(measured.width, rendered.width);
        EXPECT_EQ(measured.height, rendered.height);
        EXPECT_EQ(rendered.rgba.size(), static_cast<std::size_t>(rendered.width) * rendered.height * 4);
        const int advance = static_cast<int>(std::lround(size * spacing));
        EXPECT_EQ(rendered.height, 6 * advance + 2 * padding);
        // Monospace: the widest line (33 characters) is 33 single advances.
        const Box one = measure_text({"x"}, style);
        EXPECT_EQ(measured.width - 2 * padding, 33 * (one.width - 2 * padding));
      }
    }
  }
}

// Glyph cells tile each line exactly as render_text lays it out: they start at the padding, follow
// one another without gaps, end at the line's measured width, and each cell holds its glyph's ink.
TEST(TextRender, GlyphCellsTileTheRenderedLines) {
  TextStyle style;
  style.pixel_size = 14;
  style.padding = 2;
  const std::vector<std::string> lines = {"ab_9", "", "x \xC3\xA9"};  // a space and a two-byte character
  const std::vector<GlyphCell> cells = text_glyph_cells(lines, style);
  ASSERT_EQ(cells.size(), 7u);
  const int advance = static_cast<int>(std::lround(14 * style.line_spacing));
  EXPECT_EQ(cells[0].codepoint, U'a');
  EXPECT_EQ(cells[3].codepoint, U'9');
  EXPECT_EQ(cells[5].codepoint, U' ');
  EXPECT_EQ(cells[6].codepoint, U'\u00E9');
  EXPECT_EQ(cells[6].line, 2);
  EXPECT_EQ(cells[0].box.x, 2);
  EXPECT_EQ(cells[0].box.y, 2);
  EXPECT_EQ(cells[4].box, (Box{2, 2 + 2 * advance, cells[4].box.width, advance}));
  for (std::size_t i = 1; i < 4; ++i) EXPECT_EQ(cells[i].box.x, cells[i - 1].box.x + cells[i - 1].box.width) << i;
  EXPECT_EQ(cells[3].box.x + cells[3].box.width + 2, measure_text({"ab_9"}, style).width);
  // The ink of "a" alone lies inside its cell.
  const Overlay a = render_text({"a"}, style);
  const Box ink = a.ink_bounds();
  EXPECT_GE(ink.x, cells[0].box.x);
  EXPECT_LE(ink.x + ink.width, cells[0].box.x + cells[0].box.width);
  EXPECT_GE(ink.y, cells[0].box.y);
  EXPECT_LE(ink.y + ink.height, cells[0].box.y + cells[0].box.height);
  EXPECT_TRUE(text_glyph_cells({}, style).empty());
  style.pixel_size = 0;
  EXPECT_THROW(text_glyph_cells(lines, style), ConfigError);
}

TEST(TextRender, InkSitsOnItsLine) {
  TextStyle style;
  style.pixel_size = 20;
  const int advance = static_cast<int>(std::lround(20 * style.line_spacing));
  const Overlay two = render_text({"HHHH", "HHHH"}, style);
  const Overlay first = render_text({"HHHH", ""}, style);
  const Overlay second = render_text({"", "HHHH"}, style);
  const auto [f0, f1] = ink_rows(first);
  const auto [s0, s1] = ink_rows(second);
  EXPECT_GE(f0, 0);
  EXPECT_LT(f1, advance);
  EXPECT_EQ(s0, f0 + advance);  // the second line is the first moved down one advance
  EXPECT_EQ(s1, f1 + advance);
  EXPECT_EQ(two.ink_bounds(), (Box{first.ink_bounds().x, f0, first.ink_bounds().width, s1 - f0 + 1}));
  // Capital H fills most of the em height and starts near the top of its line.
  EXPECT_GT(f1 - f0 + 1, 20 / 2);
  EXPECT_LT(f0, advance / 2);
}

TEST(TextRender, OpacityAndColour) {
  TextStyle style;
  style.rgb = {10, 200, 30};
  style.opacity = 0.5;
  const Overlay o = render_text(kProfile, style);
  EXPECT_EQ(max_alpha(o), 128);  // full coverage inside stems, times 0.5
  for (std::size_t p = 0; p < o.rgba.size(); p += 4) {
    ASSERT_EQ(o.rgba[p], 10);
    ASSERT_EQ(o.rgba[p + 1], 200);
    ASSERT_EQ(o.rgba[p + 2], 30);
  }
  style.opacity = 1.0;
  EXPECT_EQ(max_alpha(render_text(kProfile, style)), 255);
  style.opacity = 0.0;
  EXPECT_EQ(max_alpha(render_text(kProfile, style)), 0);
  // Anti-aliased: partial coverage exists.
  style.opacity = 1.0;
  const Overlay aa = render_text({"Woven @ 42"}, style);
  bool partial = false;
  for (std::size_t p = 3; p < aa.rgba.size(); p += 4) partial = partial || (aa.rgba[p] > 0 && aa.rgba[p] < 255);
  EXPECT_TRUE(partial);
}

TEST(TextRender, EmptyLinesAndUnicode) {
  TextStyle style;
  const Overlay none = render_text({}, style);
  EXPECT_EQ(none.width, 0);
  EXPECT_EQ(none.height, 0);
  const Overlay blank = render_text({"", ""}, style);
  EXPECT_EQ(blank.width, 0);
  EXPECT_EQ(blank.height, 2 * static_cast<int>(std::lround(12 * 1.15)));
  // Accents, CJK (not in the font: drawn as its missing-glyph box), malformed UTF-8: all drawn,
  // none crash, and the size still agrees.
  const std::vector<std::string> odd = {"Zoë Ångström", "東京, 日本", std::string("bad \xff\xfe utf8 \xe2\x82")};
  const Overlay o = render_text(odd, style);
  EXPECT_EQ(measure_text(odd, style).width, o.width);
  EXPECT_GT(o.width, 0);
  EXPECT_GT(max_alpha(o), 0);
}

TEST(TextRender, SameResultOnEveryThread) {
  TextStyle style;
  style.pixel_size = 14;
  const Overlay reference = render_text(kProfile, style);
  std::vector<Overlay> results(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 20; ++repeat) results[t] = render_text(kProfile, style);
    });
  }
  for (auto& t : threads) t.join();
  for (const Overlay& r : results) EXPECT_EQ(r.rgba, reference.rgba);
}

TEST(TextRender, MissingOrBrokenFontIsIoErrorNamingIt) {
  TextStyle style;
  style.font = "/nonexistent/NoSuchFont.ttf";
  try {
    render_text({"x"}, style);
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/NoSuchFont.ttf"), std::string::npos) << e.what();
  }
  EXPECT_THROW(measure_text({"x"}, style), IoError);
  test::TempDir dir;
  test::write_text(dir / "fake.ttf", "not a font at all");
  style.font = dir / "fake.ttf";
  EXPECT_THROW(render_text({"x"}, style), IoError);
}

TEST(TextRender, InvalidStyleIsConfigError) {
  TextStyle style;
  style.pixel_size = 0;
  EXPECT_THROW(render_text({"x"}, style), ConfigError);
  style = {};
  style.opacity = 1.5;
  EXPECT_THROW(render_text({"x"}, style), ConfigError);
  style = {};
  style.line_spacing = 0;
  EXPECT_THROW(measure_text({"x"}, style), ConfigError);
  style = {};
  style.padding = -1;
  EXPECT_THROW(render_text({"x"}, style), ConfigError);
}

}  // namespace
}  // namespace privprobe
