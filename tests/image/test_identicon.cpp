// Identicons: deterministic, distinct across keys, left-right symmetric, made of whole cells.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "image/identicon.h"
#include "util/error.h"

namespace privprobe {
namespace {

TEST(Identicon, SameKeySamePixels) {
  const IdenticonStyle style;
  EXPECT_EQ(render_identicon("alice_w|1234567890", style).rgba, render_identicon("alice_w|1234567890", style).rgba);
  EXPECT_NE(render_identicon("alice_w|1234567890", style).rgba, render_identicon("alice_w|1234567891", style).rgba);
}

TEST(Identicon, FortyKeysFortyPictures) {
  std::set<std::vector<std::uint8_t>> pictures;
  std::set<std::vector<std::uint8_t>> patterns;  // on/off cells only, colour ignored
  const IdenticonStyle style;
  for (int i = 0; i < 40; ++i) {
    const Overlay o = render_identicon("user" + std::to_string(i), style);
    pictures.insert(o.rgba);
    std::vector<std::uint8_t> cells;
    const std::uint8_t* background = nullptr;
    for (int cy = 0; cy < style.grid; ++cy) {
      for (int cx = 0; cx < style.grid; ++cx) {
        const std::uint8_t* p = o.pixel(cx * style.cell_px, cy * style.cell_px);
        if (background == nullptr) background = p;
        cells.push_back(p[0] == 240 && p[1] == 240 && p[2] == 240 ? 0 : 1);
      }
    }
    patterns.insert(cells);
  }
  EXPECT_EQ(pictures.size(), 40u);
  EXPECT_GE(patterns.size(), 38u);  // 15 random bits each: a collision or two at most
}

TEST(Identicon, SymmetricWholeCellsAndSized) {
  for (int grid : {5, 6, 7}) {
    IdenticonStyle style;
    style.grid = grid;
    style.cell_px = 9;
    const Overlay o = render_identicon("key" + std::to_string(grid), style);
    ASSERT_EQ(o.width, grid * 9);
    ASSERT_EQ(o.height, grid * 9);
    for (int y = 0; y < o.height; ++y) {
      for (int x = 0; x < o.width; ++x) {
        const std::uint8_t* p = o.pixel(x, y);
        const std::uint8_t* mirror = o.pixel(o.width - 1 - x, y);
        ASSERT_TRUE(std::equal(p, p + 4, mirror)) << "not symmetric at " << x << "," << y;
        const std::uint8_t* cell_origin = o.pixel(x / 9 * 9, y / 9 * 9);
        ASSERT_TRUE(std::equal(p, p + 4, cell_origin)) << "cell not uniform at " << x << "," << y;
      }
    }
  }
}

TEST(Identicon, OpacityBackgroundAndColours) {
  IdenticonStyle style;
  style.opacity = 0.5;
  const Overlay with_background = render_identicon("bob", style);
  std::set<std::vector<std::uint8_t>> colours;
  for (std::size_t p = 0; p < with_background.rgba.size(); p += 4) {
    ASSERT_EQ(with_background.rgba[p + 3], 128);
    colours.insert({with_background.rgba.begin() + static_cast<long>(p),
                    with_background.rgba.begin() + static_cast<long>(p) + 3});
  }
  ASSERT_EQ(colours.size(), 2u);  // foreground and background
  const std::vector<std::uint8_t> background = {240, 240, 240};
  for (const auto& c : colours) {
    if (c == background) continue;
    const int spread = std::max({c[0], c[1], c[2]}) - std::min({c[0], c[1], c[2]});
    EXPECT_GT(spread, 60) << "foreground should be saturated";
  }
  style.background = false;
  const Overlay transparent = render_identicon("bob", style);
  int off = 0, on = 0;
  for (std::size_t p = 3; p < transparent.rgba.size(); p += 4) (transparent.rgba[p] == 0 ? off : on)++;
  EXPECT_GT(off, 0);
  EXPECT_GT(on, 0);
}

TEST(Identicon, InvalidStyleIsConfigError) {
  IdenticonStyle style;
  style.cell_px = 7;
  EXPECT_THROW(render_identicon("k", style), ConfigError);
  style = {};
  style.grid = 1;
  EXPECT_THROW(render_identicon("k", style), ConfigError);
  style = {};
  style.opacity = -0.1;
  EXPECT_THROW(render_identicon("k", style), ConfigError);
}

}  // namespace
TEST(Identicon, CellsAreTheDrawnPattern) {
  IdenticonStyle style;
  style.cell_px = 9;
  for (int i = 0; i < 20; ++i) {
    const std::string key = "user" + std::to_string(i);
    const Overlay o = render_identicon(key, style);
    const std::vector<std::uint8_t> cells = identicon_cells(key, style.grid);
    ASSERT_EQ(cells.size(), static_cast<std::size_t>(style.grid * style.grid));
    for (int cy = 0; cy < style.grid; ++cy) {
      for (int cx = 0; cx < style.grid; ++cx) {
        // Every pixel of a cell: foreground where the pattern says 1, the light background elsewhere.
        const std::uint8_t* p = o.pixel(cx * style.cell_px + 4, cy * style.cell_px + 8);
        const bool background = p[0] == 240 && p[1] == 240 && p[2] == 240;
        EXPECT_EQ(cells[static_cast<std::size_t>(cy * style.grid + cx)], background ? 0 : 1) << key << " cell " << cx << "," << cy;
      }
    }
  }
  EXPECT_NE(identicon_cells("user0"), identicon_cells("user1"));
  EXPECT_THROW(identicon_cells("user0", 1), ConfigError);
}

}  // namespace privprobe
