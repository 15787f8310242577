// The watermark renderer, shared by `embed` and `probeset` (one renderer in the project): a
// profile drawn as text lines "key: value", as its identicon picture, or both, placed at a
// uniformly random position where it fits (or, on request, always at one place).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "image/overlay.h"
#include "image/text_render.h"
#include "profiles/profile.h"
#include "util/rng.h"

namespace privprobe {

enum class WatermarkStyle { kText, kIdenticon, kBoth };
WatermarkStyle parse_watermark_style(const std::string& name);  // throws ConfigError
const char* watermark_style_name(WatermarkStyle style);

// Where a block goes: anywhere it fits (the paper's), or always at one place: a small vision tower
// that cannot find a picture anywhere in the image may still learn it at one place.
enum class WatermarkPlacement { kRandom, kTopLeft, kCenter };
WatermarkPlacement parse_watermark_placement(const std::string& name);  // throws ConfigError
const char* watermark_placement_name(WatermarkPlacement placement);

struct WatermarkConfig {
  WatermarkStyle style = WatermarkStyle::kText;
  std::vector<std::string> fields = kProfileFields;
  bool field_names = true;     // lines read "key: value"; false: the value alone
  double opacity = 0.5;
  std::filesystem::path font;  // empty: DejaVu Sans Mono
  int font_size = 0;           // 0: scaled to the image (see default_font_size)
  int min_font_size = 6;       // shrink down to this before clipping
  int identicon_cell = 0;      // 0: scaled to the image, at least 8 px
  WatermarkPlacement placement = WatermarkPlacement::kRandom;

  void validate() const;  // throws ConfigError
};

// Font size for an image when --font-size is not given: about 1/40 of the shorter side, >= 8.
int default_font_size(int image_width, int image_height);

inline constexpr int kMinIdenticonCell = 8;
inline constexpr int kIdenticonGrid = 5;
// Identicon cell size when not configured: about 1/40 of the shorter side, >= kMinIdenticonCell,
// so the picture (kIdenticonGrid cells) is about as tall as the text block.
int default_identicon_cell(int image_width, int image_height);

// The lines drawn for `profile`: "key: value" (or the value alone without field names) for each
// field, in the given order.
std::vector<std::string> watermark_lines(const Profile& profile, const std::vector<std::string>& fields,
                                         bool field_names = true);

struct PlacedWatermark {
  Overlay overlay;
  int x = 0, y = 0;       // top-left in the image (the box is [x, y, overlay.width, overlay.height] clipped)
  Box box;                // drawn box, clipped to the image
  int font_size = 0;      // 0 for identicon-only
  int identicon_cell = 0; // 0 for text-only
  bool clipped = false;   // the block did not fit even at the minimum size
};

// The top-left of a block_width x block_height block in the image: two uniform draws with `rng`, x
// then y, over the positions where the block fits (0 where it does not). With a fixed placement
// the draws are still made, so later draws do not shift, and the place is the corner or the centre.
struct Origin {
  int x = 0, y = 0;
};
Origin watermark_origin(WatermarkPlacement placement, int image_width, int image_height, int block_width,
                        int block_height, Rng& rng);

// Renders `profile` for an image of the given size and picks the position with watermark_origin.
PlacedWatermark place_watermark(const Profile& profile, const WatermarkConfig& config, int image_width,
                                int image_height, Rng& rng);

// Renders `profile` at a fixed position and font size (probe sets reuse a U1 draw's position and
// size for its U2 twin so only the content differs).
PlacedWatermark render_watermark_at(const Profile& profile, const WatermarkConfig& config, int image_width,
                                    int image_height, int x, int y, int font_size);

// The code points a text or `both` watermark of `profile` draws at `font_size` (identicon_cell: the
// picture's cell with `both`), each with its advance cell in image coordinates for a block whose
// top-left is (x, y): labels for a per-patch character loss. Empty for the identicon style.
std::vector<GlyphCell> watermark_glyph_cells(const Profile& profile, const WatermarkConfig& config, int font_size,
                                             int identicon_cell, int x, int y);

}  // namespace privprobe
