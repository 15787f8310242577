#include "embed/watermark.h"

#include <algorithm>
#include <cmath>

#include "image/identicon.h"
#include "image/text_render.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

// Sizes of one candidate layout: the block is the text, the picture, or the picture left of the
// text (top-aligned, `gap` apart), as overlay_side_by_side arranges them.
struct Layout {
  int font_size = 0;
  int cell = 0;
  int width = 0;
  int height = 0;
};

bool draws_text(WatermarkStyle style) { return style != WatermarkStyle::kIdenticon; }
bool draws_picture(WatermarkStyle style) { return style != WatermarkStyle::kText; }

int side_by_side_gap(int font_size) { return std::max(2, font_size / 2); }

TextStyle text_style(const WatermarkConfig& config, int font_size) {
  TextStyle style;
  style.font = config.font;
  style.pixel_size = font_size;
  style.opacity = config.opacity;
  return style;
}

IdenticonStyle identicon_style(const WatermarkConfig& config, int cell) {
  IdenticonStyle style;
  style.grid = kIdenticonGrid;
  style.cell_px = cell;
  style.opacity = config.opacity;
  return style;
}

// The starting sizes for an image: configured, or scaled to the image.
int initial_font_size(const WatermarkConfig& config, int width, int height) {
  return config.font_size > 0 ? config.font_size : default_font_size(width, height);
}
int initial_cell(const WatermarkConfig& config, int width, int height) {
  return config.identicon_cell > 0 ? config.identicon_cell : default_identicon_cell(width, height);
}

// With `both`, the picture shrinks with the text so the two keep their proportions.
int cell_for_font(int font_size, int font0, int cell0) {
  const double scaled = std::round(static_cast<double>(cell0) * font_size / std::max(1, font0));
  return std::max(kMinIdenticonCell, std::min(cell0, static_cast<int>(scaled)));
}

Layout measure_layout(const std::vector<std::string>& lines, const WatermarkConfig& config, int font_size,
                      int cell) {
  Layout layout;
  layout.font_size = draws_text(config.style) ? font_size : 0;
  layout.cell = draws_picture(config.style) ? cell : 0;
  int text_w = 0, text_h = 0;
  if (draws_text(config.style)) {
    const Box text = measure_text(lines, text_style(config, font_size));
    text_w = text.width;
    text_h = text.height;
  }
  const int picture = draws_picture(config.style) ? kIdenticonGrid * cell : 0;
  switch (config.style) {
    case WatermarkStyle::kText:
      layout.width = text_w;
      layout.height = text_h;
      break;
    case WatermarkStyle::kIdenticon:
      layout.width = picture;
      layout.height = picture;
      break;
    case WatermarkStyle::kBoth:
      layout.width = picture + side_by_side_gap(font_size) + text_w;
      layout.height = std::max(picture, text_h);
      break;
  }
  return layout;
}

bool fits(const Layout& layout, int width, int height) { return layout.width <= width && layout.height <= height; }

// The largest layout that fits, shrinking from the starting size down to the minimum; the
// minimum layout when nothing fits (the caller clips it).
Layout choose_layout(const std::vector<std::string>& lines, const WatermarkConfig& config, int width,
                     int height) {
  const int font0 = initial_font_size(config, width, height);
  const int cell0 = initial_cell(config, width, height);
  Layout layout;
  if (config.style == WatermarkStyle::kIdenticon) {
    const int min_cell = std::min(cell0, kMinIdenticonCell);
    for (int cell = cell0; cell >= min_cell; --cell) {
      layout = measure_layout(lines, config, 0, cell);
      if (fits(layout, width, height)) break;
    }
    return layout;
  }
  const int min_font = std::min(font0, config.min_font_size);
  for (int font = font0; font >= min_font; --font) {
    layout = measure_layout(lines, config, font, cell_for_font(font, font0, cell0));
    if (fits(layout, width, height)) break;
  }
  return layout;
}

Overlay render_layout(const Profile& profile, const std::vector<std::string>& lines, const WatermarkConfig& config,
                      const Layout& layout) {
  switch (config.style) {
    case WatermarkStyle::kText:
      return render_text(lines, text_style(config, layout.font_size));
    case WatermarkStyle::kIdenticon:
      return render_identicon(profile.username, identicon_style(config, layout.cell));
    case WatermarkStyle::kBoth:
      return overlay_side_by_side(render_identicon(profile.username, identicon_style(config, layout.cell)),
                                  render_text(lines, text_style(config, layout.font_size)),
                                  side_by_side_gap(layout.font_size));
  }
  return {};
}

PlacedWatermark place_at(const Profile& profile, const std::vector<std::string>& lines,
                         const WatermarkConfig& config, const Layout& layout, int width, int height, int x, int y) {
  PlacedWatermark placed;
  placed.overlay = render_layout(profile, lines, config, layout);
  placed.x = x;
  placed.y = y;
  placed.font_size = layout.font_size;
  placed.identicon_cell = layout.cell;
  placed.clipped = x < 0 || y < 0 || x + placed.overlay.width > width || y + placed.overlay.height > height;
  const int x0 = std::max(0, x), y0 = std::max(0, y);
  const int x1 = std::min(width, x + placed.overlay.width), y1 = std::min(height, y + placed.overlay.height);
  if (x1 > x0 && y1 > y0) placed.box = Box{x0, y0, x1 - x0, y1 - y0};
  return placed;
}

void require_image_size(int width, int height) {
  if (width <= 0 || height <= 0) {
    throw DataError(error_message("watermark", "image size " + std::to_string(width) + "x" +
                                                   std::to_string(height) + " has no pixels"));
  }
}

}  // namespace

WatermarkStyle parse_watermark_style(const std::string& name) {
  if (name == "text") return WatermarkStyle::kText;
  if (name == "identicon") return WatermarkStyle::kIdenticon;
  if (name == "both") return WatermarkStyle::kBoth;
  throw ConfigError(error_message("--style", "unknown watermark style '" + name + "'", "text, identicon or both"));
}

const char* watermark_style_name(WatermarkStyle style) {
  switch (style) {
    case WatermarkStyle::kText:
      return "text";
    case WatermarkStyle::kIdenticon:
      return "identicon";
    case WatermarkStyle::kBoth:
      return "both";
  }
  return "text";
}

WatermarkPlacement parse_watermark_placement(const std::string& name) {
  if (name == "random") return WatermarkPlacement::kRandom;
  if (name == "top-left") return WatermarkPlacement::kTopLeft;
  if (name == "center") return WatermarkPlacement::kCenter;
  throw ConfigError(error_message("--placement", "unknown watermark placement '" + name + "'", "random, top-left or center"));
}

const char* watermark_placement_name(WatermarkPlacement placement) {
  switch (placement) {
    case WatermarkPlacement::kRandom:
      return "random";
    case WatermarkPlacement::kTopLeft:
      return "top-left";
    case WatermarkPlacement::kCenter:
      return "center";
  }
  return "random";
}

Origin watermark_origin(WatermarkPlacement placement, int image_width, int image_height, int block_width,
                        int block_height, Rng& rng) {
  // A block larger than the image in one dimension starts at 0 there (the draw is still made).
  const int max_x = std::max(0, image_width - block_width);
  const int max_y = std::max(0, image_height - block_height);
  Origin drawn;
  drawn.x = static_cast<int>(rng.below(static_cast<std::uint64_t>(max_x) + 1));
  drawn.y = static_cast<int>(rng.below(static_cast<std::uint64_t>(max_y) + 1));
  switch (placement) {
    case WatermarkPlacement::kRandom:
      return drawn;
    case WatermarkPlacement::kTopLeft:
      return {};
    case WatermarkPlacement::kCenter:
      return {max_x / 2, max_y / 2};
  }
  return drawn;
}

void WatermarkConfig::validate() const {
  if (fields.empty()) throw ConfigError(error_message("--fields", "no fields to draw"));
  for (const auto& f : fields) {
    if (std::find(kProfileFields.begin(), kProfileFields.end(), f) == kProfileFields.end()) {
      std::string known;
      for (const auto& k : kProfileFields) known += (known.empty() ? "" : ",") + k;
      throw ConfigError(error_message("--fields", "unknown profile field '" + f + "'", "known fields: " + known));
    }
  }
  if (!(opacity > 0.0 && opacity <= 1.0)) {
    throw ConfigError(error_message("--opacity", "must be in (0, 1], got " + std::to_string(opacity)));
  }
  if (font_size < 0 || font_size > 2000) {
    throw ConfigError(error_message("--font-size", "must be 0 (scaled to the image) or 1..2000 pixels"));
  }
  if (min_font_size < 1) throw ConfigError(error_message("min_font_size", "must be at least 1"));
  if (identicon_cell != 0 && (identicon_cell < kMinIdenticonCell || identicon_cell > 2000)) {
    throw ConfigError(error_message("identicon_cell", "must be 0 (scaled to the image) or 8..2000 pixels"));
  }
  if (!font.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(font, ec)) {
      throw ConfigError(error_message(font.string(), "font file not found", "give a .ttf/.otf file to --font"));
    }
  }
}

int default_font_size(int image_width, int image_height) {
  return std::max(8, std::min(image_width, image_height) / 40);
}

int default_identicon_cell(int image_width, int image_height) {
  return std::max(kMinIdenticonCell, std::min(image_width, image_height) / 40);
}

std::vector<std::string> watermark_lines(const Profile& profile, const std::vector<std::string>& fields,
                                         bool field_names) {
  std::vector<std::string> lines;
  lines.reserve(fields.size());
  for (const auto& f : fields) lines.push_back(field_names ? f + ": " + profile.field(f) : profile.field(f));
  return lines;
}

std::vector<GlyphCell> watermark_glyph_cells(const Profile& profile, const WatermarkConfig& config, int font_size,
                                             int identicon_cell, int x, int y) {
  if (!draws_text(config.style)) return {};
  if (font_size <= 0) throw ConfigError(error_message("watermark_glyph_cells", "font size must be positive"));
  // With `both` the text sits right of the picture, top-aligned (overlay_side_by_side).
  const int text_x = config.style == WatermarkStyle::kBoth
                         ? x + kIdenticonGrid * identicon_cell + side_by_side_gap(font_size)
                         : x;
  std::vector<GlyphCell> cells =
      text_glyph_cells(watermark_lines(profile, config.fields, config.field_names), text_style(config, font_size));
  for (GlyphCell& cell : cells) {
    cell.box.x += text_x;
    cell.box.y += y;
  }
  return cells;
}

PlacedWatermark place_watermark(const Profile& profile, const WatermarkConfig& config, int image_width,
                                int image_height, Rng& rng) {
  require_image_size(image_width, image_height);
  const std::vector<std::string> lines = watermark_lines(profile, config.fields, config.field_names);
  const Layout layout = choose_layout(lines, config, image_width, image_height);
  const Origin at = watermark_origin(config.placement, image_width, image_height, layout.width, layout.height, rng);
  return place_at(profile, lines, config, layout, image_width, image_height, at.x, at.y);
}

PlacedWatermark render_watermark_at(const Profile& profile, const WatermarkConfig& config, int image_width,
                                    int image_height, int x, int y, int font_size) {
  require_image_size(image_width, image_height);
  const std::vector<std::string> lines = watermark_lines(profile, config.fields, config.field_names);
  Layout layout;
  if (config.style == WatermarkStyle::kIdenticon) {
    // The picture's size does not depend on the profile, so the same choice as place_watermark.
    layout = choose_layout(lines, config, image_width, image_height);
  } else {
    if (font_size <= 0) throw ConfigError(error_message("render_watermark_at", "font size must be positive"));
    const int font0 = initial_font_size(config, image_width, image_height);
    const int cell0 = initial_cell(config, image_width, image_height);
    layout = measure_layout(lines, config, font_size, cell_for_font(font_size, font0, cell0));
  }
  return place_at(profile, lines, config, layout, image_width, image_height, x, y);
}

}  // namespace privprobe
