// The watermark renderer: sizes scaled to the image, shrink-then-clip, uniform placement,
// identicons keyed by username, and reproducible draws.
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "embed/watermark.h"
#include "util/error.h"

namespace privprobe {
namespace {

Profile sample_profile(const std::string& username = "Sophia Chen") {
  Profile p;
  p.id = "7";
  p.username = username;
  p.user_id = 8250947613;
  p.gender = "Female";
  p.age = 30;
  p.capture_time = "2025-06-15 10:23:45";
  p.capture_location = "Tokyo, Japan";
  return p;
}

bool box_inside(const Box& b, int w, int h) {
  return b.x >= 0 && b.y >= 0 && b.width > 0 && b.height > 0 && b.x + b.width <= w && b.y + b.height <= h;
}

TEST(Watermark, StyleNamesRoundTrip) {
  for (auto s : {WatermarkStyle::kText, WatermarkStyle::kIdenticon, WatermarkStyle::kBoth}) {
    EXPECT_EQ(parse_watermark_style(watermark_style_name(s)), s);
  }
  EXPECT_THROW(parse_watermark_style("Text"), ConfigError);
  EXPECT_THROW(parse_watermark_style(""), ConfigError);
}

TEST(Watermark, ValidateRefusesBadSettings) {
  WatermarkConfig ok;
  EXPECT_NO_THROW(ok.validate());
  auto bad = ok;
  bad.fields = {};
  EXPECT_THROW(bad.validate(), ConfigError);
  bad = ok;
  bad.fields = {"username", "shoe_size"};
  EXPECT_THROW(bad.validate(), ConfigError);
  bad = ok;
  bad.opacity = 0;
  EXPECT_THROW(bad.validate(), ConfigError);
  bad.opacity = 1.5;
  EXPECT_THROW(bad.validate(), ConfigError);
  bad = ok;
  bad.font_size = -1;
  EXPECT_THROW(bad.validate(), ConfigError);
  bad = ok;
  bad.identicon_cell = 4;  // below the 8 px minimum
  EXPECT_THROW(bad.validate(), ConfigError);
  bad = ok;
  bad.font = "/nonexistent/font.ttf";
  EXPECT_THROW(bad.validate(), ConfigError);
}

TEST(Watermark, DefaultSizesScaleWithTheShorterSide) {
  EXPECT_EQ(default_font_size(640, 480), 12);
  EXPECT_EQ(default_font_size(480, 4000), 12);
  EXPECT_EQ(default_font_size(128, 128), 8);  // floor of 8
  EXPECT_EQ(default_font_size(2000, 3000), 50);
  EXPECT_EQ(default_identicon_cell(128, 128), kMinIdenticonCell);
  EXPECT_EQ(default_identicon_cell(800, 1200), 20);
}

TEST(Watermark, LinesAreKeyValueInFieldOrder) {
  const auto lines = watermark_lines(sample_profile(), {"age", "username", "user_id"});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "age: 30");
  EXPECT_EQ(lines[1], "username: Sophia Chen");
  EXPECT_EQ(lines[2], "user_id: 8250947613");
}

TEST(Watermark, WithoutFieldNamesALineIsTheValueAlone) {
  const auto lines = watermark_lines(sample_profile(), {"username", "age"}, false);
  EXPECT_EQ(lines, (std::vector<std::string>{"Sophia Chen", "30"}));
  WatermarkConfig named, bare;
  named.fields = bare.fields = {"username"};
  bare.field_names = false;
  Rng r1(2), r2(2);
  const auto a = place_watermark(sample_profile(), named, 400, 300, r1);
  const auto b = place_watermark(sample_profile(), bare, 400, 300, r2);
  EXPECT_EQ(a.font_size, b.font_size);
  EXPECT_EQ(a.overlay.width - b.overlay.width, 10 * measure_text({"x"}, TextStyle{{}, a.font_size}).width);  // "username: "
}

// Glyph cells in image coordinates: the text's characters where place_watermark drew them, right of
// the picture with `both`, none for a picture alone.
TEST(Watermark, GlyphCellsSitWhereTheTextWasDrawn) {
  WatermarkConfig config;
  config.fields = {"username"};
  config.field_names = false;
  config.font_size = 14;
  Rng rng(9);
  const Profile profile = sample_profile("Sophia Chen");
  const auto placed = place_watermark(profile, config, 300, 200, rng);
  const auto cells = watermark_glyph_cells(profile, config, placed.font_size, 0, placed.x, placed.y);
  ASSERT_EQ(cells.size(), 11u);
  EXPECT_EQ(cells[0].codepoint, U'S');
  EXPECT_EQ(cells[6].codepoint, U' ');
  EXPECT_EQ(cells[0].box.x, placed.x);
  EXPECT_EQ(cells[0].box.y, placed.y);
  EXPECT_EQ(cells.back().box.x + cells.back().box.width, placed.x + placed.overlay.width);
  EXPECT_EQ(cells[0].box.height, placed.overlay.height);  // one line

  config.style = WatermarkStyle::kBoth;
  Rng rng2(9);
  const auto both = place_watermark(profile, config, 300, 200, rng2);
  const auto both_cells = watermark_glyph_cells(profile, config, both.font_size, both.identicon_cell, both.x, both.y);
  ASSERT_EQ(both_cells.size(), 11u);
  EXPECT_EQ(both_cells.back().box.x + both_cells.back().box.width, both.x + both.overlay.width);  // text ends the block
  EXPECT_GT(both_cells[0].box.x, both.x + kIdenticonGrid * both.identicon_cell);

  config.style = WatermarkStyle::kIdenticon;
  EXPECT_TRUE(watermark_glyph_cells(profile, config, 0, 16, 0, 0).empty());
  config.style = WatermarkStyle::kText;
  EXPECT_THROW(watermark_glyph_cells(profile, config, 0, 0, 0, 0), ConfigError);
}

TEST(Watermark, TextFitsAtTheScaledSizeOnALargeImage) {
  WatermarkConfig config;
  Rng rng(1);
  const PlacedWatermark w = place_watermark(sample_profile(), config, 640, 480, rng);
  EXPECT_EQ(w.font_size, default_font_size(640, 480));
  EXPECT_EQ(w.identicon_cell, 0);
  EXPECT_FALSE(w.clipped);
  EXPECT_TRUE(box_inside(w.box, 640, 480));
  EXPECT_EQ(w.box, (Box{w.x, w.y, w.overlay.width, w.overlay.height}));
  // Six lines: taller than five line heights of the font.
  EXPECT_GT(w.overlay.height, 5 * w.font_size);
  EXPECT_FALSE(w.overlay.ink_bounds().empty());
}

TEST(Watermark, ShrinksBeforeClipping) {
  WatermarkConfig config;
  config.font_size = 40;  // far too large for 300 px of width
  Rng rng(2);
  const PlacedWatermark w = place_watermark(sample_profile(), config, 300, 200, rng);
  EXPECT_LT(w.font_size, 40);
  EXPECT_GE(w.font_size, config.min_font_size);
  EXPECT_FALSE(w.clipped);
  EXPECT_TRUE(box_inside(w.box, 300, 200));
  // One size larger would not have fitted.
  const PlacedWatermark bigger = render_watermark_at(sample_profile(), config, 300, 200, 0, 0, w.font_size + 1);
  EXPECT_TRUE(bigger.overlay.width > 300 || bigger.overlay.height > 200);
}

TEST(Watermark, ClipsAtTheMinimumSizeOnATinyImage) {
  WatermarkConfig config;
  Rng rng(3);
  const PlacedWatermark w = place_watermark(sample_profile(), config, 32, 32, rng);
  EXPECT_TRUE(w.clipped);
  EXPECT_EQ(w.font_size, config.min_font_size);
  EXPECT_EQ(w.x, 0);  // the block is wider and taller than the image: only one position
  EXPECT_EQ(w.y, 0);
  EXPECT_EQ(w.box, (Box{0, 0, 32, 32}));
}

TEST(Watermark, PositionIsUniformOverWhereTheBlockFits) {
  WatermarkConfig config;
  std::set<int> xs, ys;
  int min_x = 1 << 30, max_x = -1, min_y = 1 << 30, max_y = -1;
  int w = 0, h = 0;
  for (int i = 0; i < 400; ++i) {
    Rng rng(derive_seed(9, "img" + std::to_string(i)));
    const PlacedWatermark p = place_watermark(sample_profile(), config, 640, 480, rng);
    w = p.overlay.width;
    h = p.overlay.height;
    ASSERT_TRUE(box_inside(p.box, 640, 480));
    min_x = std::min(min_x, p.x), max_x = std::max(max_x, p.x);
    min_y = std::min(min_y, p.y), max_y = std::max(max_y, p.y);
    xs.insert(p.x / 64);
    ys.insert(p.y / 48);
  }
  // Positions reach both ends of the allowed range and spread across it.
  EXPECT_LT(min_x, (640 - w) / 10);
  EXPECT_GT(max_x, (640 - w) * 9 / 10);
  EXPECT_LT(min_y, (480 - h) / 10);
  EXPECT_GT(max_y, (480 - h) * 9 / 10);
  EXPECT_GE(xs.size(), static_cast<std::size_t>((640 - w) / 64));
  EXPECT_GE(ys.size(), static_cast<std::size_t>((480 - h) / 48));
}

TEST(Watermark, PlacementNamesRoundTrip) {
  for (auto p : {WatermarkPlacement::kRandom, WatermarkPlacement::kTopLeft, WatermarkPlacement::kCenter}) {
    EXPECT_EQ(parse_watermark_placement(watermark_placement_name(p)), p);
  }
  EXPECT_THROW(parse_watermark_placement("corner"), ConfigError);
}

TEST(Watermark, FixedPlacementPutsEveryBlockInOnePlace) {
  WatermarkConfig config;
  config.style = WatermarkStyle::kIdenticon;
  config.identicon_cell = 16;  // 80 x 80 px
  for (const auto& [placement, x, y] : {std::tuple{WatermarkPlacement::kTopLeft, 0, 0},
                                       std::tuple{WatermarkPlacement::kCenter, (200 - 80) / 2, (120 - 80) / 2}}) {
    config.placement = placement;
    for (int i = 0; i < 20; ++i) {
      Rng rng(derive_seed(9, "img" + std::to_string(i)));
      const PlacedWatermark p = place_watermark(sample_profile("user" + std::to_string(i)), config, 200, 120, rng);
      EXPECT_EQ(p.x, x);
      EXPECT_EQ(p.y, y);
      EXPECT_EQ(p.box, (Box{x, y, 80, 80}));
      // The position draws are still made: what the generator gives next does not depend on the placement.
      Rng random_rng(derive_seed(9, "img" + std::to_string(i)));
      WatermarkConfig random = config;
      random.placement = WatermarkPlacement::kRandom;
      place_watermark(sample_profile("user" + std::to_string(i)), random, 200, 120, random_rng);
      EXPECT_EQ(rng.next_u64(), random_rng.next_u64());
    }
  }
}

TEST(Watermark, SameSeedSameWatermark) {
  WatermarkConfig config;
  Rng a(42), b(42), c(43);
  const auto wa = place_watermark(sample_profile(), config, 500, 400, a);
  const auto wb = place_watermark(sample_profile(), config, 500, 400, b);
  const auto wc = place_watermark(sample_profile(), config, 500, 400, c);
  EXPECT_EQ(wa.overlay.rgba, wb.overlay.rgba);
  EXPECT_EQ(wa.box, wb.box);
  EXPECT_FALSE(wa.box == wc.box);
}

TEST(Watermark, RenderAtReproducesAPlacedDraw) {
  for (auto style : {WatermarkStyle::kText, WatermarkStyle::kIdenticon, WatermarkStyle::kBoth}) {
    WatermarkConfig config;
    config.style = style;
    Rng rng(5);
    const auto placed = place_watermark(sample_profile(), config, 400, 300, rng);
    const auto again = render_watermark_at(sample_profile(), config, 400, 300, placed.x, placed.y, placed.font_size);
    EXPECT_EQ(again.overlay.rgba, placed.overlay.rgba) << watermark_style_name(style);
    EXPECT_EQ(again.box, placed.box);
    EXPECT_EQ(again.identicon_cell, placed.identicon_cell);
  }
}

TEST(Watermark, RenderAtReportsClippingAtTheEdge) {
  WatermarkConfig config;
  const auto w = render_watermark_at(sample_profile(), config, 400, 300, 390, 290, 12);
  EXPECT_TRUE(w.clipped);
  EXPECT_EQ(w.box, (Box{390, 290, 10, 10}));
}

TEST(Watermark, IdenticonIsKeyedByUsername) {
  WatermarkConfig config;
  config.style = WatermarkStyle::kIdenticon;
  Profile a = sample_profile("Carlos Diaz");
  Profile a_other_fields = a;
  a_other_fields.age = 61;
  a_other_fields.id = "99";
  Rng r1(1), r2(2), r3(3);
  const auto wa = place_watermark(a, config, 256, 256, r1);
  const auto wa2 = place_watermark(a_other_fields, config, 256, 256, r2);
  const auto wb = place_watermark(sample_profile("Ana Lima"), config, 256, 256, r3);
  EXPECT_EQ(wa.overlay.rgba, wa2.overlay.rgba);  // same person, same picture
  EXPECT_NE(wa.overlay.rgba, wb.overlay.rgba);
  EXPECT_EQ(wa.font_size, 0);
  EXPECT_GE(wa.identicon_cell, kMinIdenticonCell);
  EXPECT_EQ(wa.overlay.width, kIdenticonGrid * wa.identicon_cell);
}

TEST(Watermark, IdenticonCellNeverBelowEightPixels) {
  WatermarkConfig config;
  config.style = WatermarkStyle::kIdenticon;
  Rng rng(4);
  const auto w = place_watermark(sample_profile(), config, 30, 30, rng);  // 5 cells x 8 px > 30
  EXPECT_EQ(w.identicon_cell, kMinIdenticonCell);
  EXPECT_TRUE(w.clipped);
  EXPECT_EQ(w.box, (Box{0, 0, 30, 30}));
}

TEST(Watermark, BothPutsThePictureBesideTheText) {
  WatermarkConfig text_config, both_config;
  both_config.style = WatermarkStyle::kBoth;
  Rng r1(6), r2(6);
  const auto text = place_watermark(sample_profile(), text_config, 800, 600, r1);
  const auto both = place_watermark(sample_profile(), both_config, 800, 600, r2);
  EXPECT_EQ(both.font_size, text.font_size);
  EXPECT_GE(both.identicon_cell, kMinIdenticonCell);
  EXPECT_GT(both.overlay.width, text.overlay.width + kIdenticonGrid * both.identicon_cell - 1);
  EXPECT_GE(both.overlay.height, text.overlay.height);
  EXPECT_FALSE(both.clipped);
}

TEST(Watermark, RefusesAnImageWithoutPixels) {
  WatermarkConfig config;
  Rng rng(1);
  EXPECT_THROW(place_watermark(sample_profile(), config, 0, 10, rng), DataError);
}

}  // namespace
}  // namespace privprobe
