// Text rendering with FreeType: lines of text into an RGBA overlay (anti-aliased coverage times
// colour alpha). One renderer for every stage that draws profiles.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "image/overlay.h"

namespace privprobe {

// DejaVu Sans Mono from Debian's fonts-dejavu-core, the default font.
std::filesystem::path default_font_path();

struct TextStyle {
  std::filesystem::path font;   // empty: default_font_path()
  int pixel_size = 12;          // FreeType pixel size (em height)
  std::array<std::uint8_t, 3> rgb = {255, 255, 255};
  double opacity = 0.5;         // multiplies glyph coverage
  double line_spacing = 1.15;   // line advance = round(pixel_size * line_spacing)
  int padding = 0;              // transparent border around the block
};

// Renders UTF-8 lines top to bottom, left-aligned. Thread-safe (FreeType state per call or
// per thread). Throws IoError if the font cannot be loaded.
Overlay render_text(const std::vector<std::string>& lines, const TextStyle& style);

// Size the block would have, without rendering pixels.
Box measure_text(const std::vector<std::string>& lines, const TextStyle& style);

// Where render_text puts each code point: its advance cell, from the pen position to the next one
// and from the top of its line to the next line, relative to the block's top-left. Labels for a
// per-patch character loss are drawn from these (malformed UTF-8 gives U+FFFD, as rendered).
struct GlyphCell {
  char32_t codepoint = 0;
  int line = 0;
  Box box;
};
std::vector<GlyphCell> text_glyph_cells(const std::vector<std::string>& lines, const TextStyle& style);

}  // namespace privprobe
