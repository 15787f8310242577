#include "image/text_render.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

#include "util/error.h"

namespace privprobe {
namespace {

constexpr int kMaxPixelSize = 1024;
// Rendered glyphs kept per thread before the cache starts over (a few MB at most).
constexpr std::size_t kMaxCachedGlyphs = 20000;

struct Glyph {
  int left = 0, top = 0;  // bitmap offset from the pen position (top is above the baseline)
  int width = 0, height = 0;
  int advance = 0;        // whole pixels
  std::vector<std::uint8_t> coverage;  // width * height, 0..255
};

struct GlyphKey {
  FT_Face face;
  int size;
  char32_t codepoint;
  bool operator==(const GlyphKey& o) const { return face == o.face && size == o.size && codepoint == o.codepoint; }
};

struct GlyphKeyHash {
  std::size_t operator()(const GlyphKey& k) const {
    return std::hash<const void*>()(k.face) ^ (std::size_t{k.codepoint} * 0x9E3779B97F4A7C15ULL) ^
           (static_cast<std::size_t>(k.size) << 40);
  }
};

// FreeType objects are not thread-safe, so every thread has its own library, faces and glyph
// cache. Rendered glyphs are reused: a profile block has ~150 glyphs from a small alphabet.
class FontCache {
 public:
  FontCache() = default;
  FontCache(const FontCache&) = delete;
  FontCache& operator=(const FontCache&) = delete;
  ~FontCache() {
    for (auto& entry : faces_) FT_Done_Face(entry.second);
    if (library_) FT_Done_FreeType(library_);
  }

  // The face for `path` set to `pixel_size`; its ascender in whole pixels goes to `ascender`.
  FT_Face face(const std::filesystem::path& path, int pixel_size, int& ascender) {
    if (!library_ && FT_Init_FreeType(&library_) != 0) {
      library_ = nullptr;
      throw IoError(error_message(path.string(), "cannot initialise FreeType"));
    }
    const std::string key = path.string();
    auto it = faces_.find(key);
    if (it == faces_.end()) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(path, ec)) {
        throw IoError(error_message(key, "font file not found", "install fonts-dejavu-core or pass --font"));
      }
      FT_Face loaded = nullptr;
      const FT_Error error = FT_New_Face(library_, key.c_str(), 0, &loaded);
      if (error != 0) {
        throw IoError(error_message(key, "cannot load font (FreeType error " + std::to_string(error) + ")"));
      }
      if (!FT_IS_SCALABLE(loaded)) {
        FT_Done_Face(loaded);
        throw IoError(error_message(key, "cannot load font: not a scalable (outline) font"));
      }
      it = faces_.emplace(key, loaded).first;
    }
    FT_Face face = it->second;
    if (face->size == nullptr || face->size->metrics.x_ppem != pixel_size || face->size->metrics.y_ppem != pixel_size) {
      if (FT_Set_Pixel_Sizes(face, 0, static_cast<FT_UInt>(pixel_size)) != 0) {
        throw IoError(error_message(key, "cannot set pixel size " + std::to_string(pixel_size)));
      }
    }
    ascender = static_cast<int>((face->size->metrics.ascender + 63) >> 6);
    return face;
  }

  const Glyph& glyph(FT_Face face, int pixel_size, char32_t codepoint) {
    const GlyphKey key{face, pixel_size, codepoint};
    auto it = glyphs_.find(key);
    if (it != glyphs_.end()) return it->second;
    Glyph g;
    if (FT_Load_Char(face, codepoint, FT_LOAD_RENDER) == 0) {
      const FT_GlyphSlot slot = face->glyph;
      const FT_Bitmap& bitmap = slot->bitmap;
      g.left = slot->bitmap_left;
      g.top = slot->bitmap_top;
      g.advance = static_cast<int>((slot->advance.x + 32) >> 6);
      g.width = static_cast<int>(bitmap.width);
      g.height = static_cast<int>(bitmap.rows);
      g.coverage.assign(static_cast<std::size_t>(g.width) * g.height, 0);
      for (int y = 0; y < g.height; ++y) {
        const unsigned char* row = bitmap.buffer + static_cast<std::ptrdiff_t>(y) * bitmap.pitch;
        for (int x = 0; x < g.width; ++x) {
          std::uint8_t value = 0;
          if (bitmap.pixel_mode == FT_PIXEL_MODE_GRAY) {
            value = row[x];
          } else if (bitmap.pixel_mode == FT_PIXEL_MODE_MONO) {
            value = (row[x >> 3] & (0x80 >> (x & 7))) ? 255 : 0;
          }
          g.coverage[static_cast<std::size_t>(y) * g.width + x] = value;
        }
      }
    }  // a glyph FreeType cannot load is drawn as nothing, with no advance
    return glyphs_.emplace(key, std::move(g)).first->second;
  }

  void trim() {
    if (glyphs_.size() > kMaxCachedGlyphs) glyphs_.clear();
  }

 private:
  FT_Library library_ = nullptr;
  std::unordered_map<std::string, FT_Face> faces_;
  std::unordered_map<GlyphKey, Glyph, GlyphKeyHash> glyphs_;
};

FontCache& thread_font_cache() {
  thread_local FontCache cache;
  return cache;
}

// Next code point of UTF-8 text; malformed sequences give U+FFFD and skip one byte.
char32_t next_codepoint(const std::string& s, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  int extra = 0;
  char32_t cp = 0;
  if (lead < 0x80) {
    ++i;
    return lead;
  } else if ((lead & 0xE0) == 0xC0) {
    extra = 1;
    cp = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    extra = 2;
    cp = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    extra = 3;
    cp = lead & 0x07;
  } else {
    ++i;
    return 0xFFFD;
  }
  if (i + extra >= s.size()) {  // sequence cut short by the end of the string
    ++i;
    return 0xFFFD;
  }
  for (int k = 1; k <= extra; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  const char32_t min_for_length[4] = {0, 0x80, 0x800, 0x10000};
  if (cp < min_for_length[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += static_cast<std::size_t>(extra) + 1;
  return cp;
}

void validate(const TextStyle& style) {
  if (style.pixel_size < 1 || style.pixel_size > kMaxPixelSize) {
    throw ConfigError(error_message("text style", "pixel size " + std::to_string(style.pixel_size) +
                                                      " is outside 1.." + std::to_string(kMaxPixelSize)));
  }
  if (!(style.opacity >= 0.0 && style.opacity <= 1.0)) {
    throw ConfigError(error_message("text style", "opacity must be within [0, 1]"));
  }
  if (!(style.line_spacing > 0.0 && style.line_spacing <= 10.0)) {
    throw ConfigError(error_message("text style", "line spacing must be within (0, 10]"));
  }
  if (style.padding < 0 || style.padding > 4096) {
    throw ConfigError(error_message("text style", "padding must be within 0..4096"));
  }
}

struct TextLayout {
  FT_Face face = nullptr;
  int ascender = 0;
  int line_advance = 0;
  Box box;  // the block's size (x = y = 0)
};

// The one place sizes are computed, so measure_text and render_text always agree.
TextLayout layout_text(const std::vector<std::string>& lines, const TextStyle& style, FontCache& cache) {
  validate(style);
  cache.trim();
  TextLayout layout;
  const std::filesystem::path font = style.font.empty() ? default_font_path() : style.font;
  layout.face = cache.face(font, style.pixel_size, layout.ascender);
  layout.line_advance = static_cast<int>(std::lround(style.pixel_size * style.line_spacing));
  int widest = 0;
  for (const std::string& line : lines) {
    int pen = 0;
    for (std::size_t i = 0; i < line.size();) pen += cache.glyph(layout.face, style.pixel_size, next_codepoint(line, i)).advance;
    widest = std::max(widest, pen);
  }
  layout.box.width = widest + 2 * style.padding;
  layout.box.height = static_cast<int>(lines.size()) * layout.line_advance + 2 * style.padding;
  return layout;
}

// Walks the glyphs of laid-out lines in drawing order, with each one's advance cell (the pen
// position to the next, the line's top to the next line's): render_text draws at these cells and
// text_glyph_cells returns them, so the two agree by construction.
template <typename Visit>
void for_each_glyph(const std::vector<std::string>& lines, const TextStyle& style, const TextLayout& layout,
                    FontCache& cache, Visit&& visit) {
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string& line = lines[n];
    GlyphCell cell;
    cell.line = static_cast<int>(n);
    cell.box.y = style.padding + static_cast<int>(n) * layout.line_advance;
    cell.box.height = layout.line_advance;
    int pen = style.padding;
    for (std::size_t i = 0; i < line.size();) {
      cell.codepoint = next_codepoint(line, i);
      const Glyph& glyph = cache.glyph(layout.face, style.pixel_size, cell.codepoint);
      cell.box.x = pen;
      cell.box.width = glyph.advance;
      visit(cell, glyph);
      pen += glyph.advance;
    }
  }
}

}  // namespace

std::filesystem::path default_font_path() { return "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"; }

Box measure_text(const std::vector<std::string>& lines, const TextStyle& style) {
  return layout_text(lines, style, thread_font_cache()).box;
}

std::vector<GlyphCell> text_glyph_cells(const std::vector<std::string>& lines, const TextStyle& style) {
  FontCache& cache = thread_font_cache();
  const TextLayout layout = layout_text(lines, style, cache);
  std::vector<GlyphCell> cells;
  for_each_glyph(lines, style, layout, cache, [&](const GlyphCell& cell, const Glyph&) { cells.push_back(cell); });
  return cells;
}

Overlay render_text(const std::vector<std::string>& lines, const TextStyle& style) {
  FontCache& cache = thread_font_cache();
  const TextLayout layout = layout_text(lines, style, cache);
  Overlay out;
  out.width = layout.box.width;
  out.height = layout.box.height;
  out.rgba.resize(static_cast<std::size_t>(out.width) * out.height * 4);
  for (std::size_t p = 0; p < out.rgba.size(); p += 4) {
    out.rgba[p] = style.rgb[0];
    out.rgba[p + 1] = style.rgb[1];
    out.rgba[p + 2] = style.rgb[2];
    out.rgba[p + 3] = 0;
  }
  // coverage (0..255) -> alpha, with the opacity folded in once.
  std::uint8_t alpha_of[256];
  for (int c = 0; c < 256; ++c) alpha_of[c] = static_cast<std::uint8_t>(std::lround(c * style.opacity));

  for_each_glyph(lines, style, layout, cache, [&](const GlyphCell& cell, const Glyph& g) {
    const int baseline = cell.box.y + layout.ascender;
    for (int gy = 0; gy < g.height; ++gy) {
      const int y = baseline - g.top + gy;
      if (y < 0 || y >= out.height) continue;
      for (int gx = 0; gx < g.width; ++gx) {
        const int x = cell.box.x + g.left + gx;
        if (x < 0 || x >= out.width) continue;
        std::uint8_t& a = out.pixel(x, y)[3];
        a = std::max(a, alpha_of[g.coverage[static_cast<std::size_t>(gy) * g.width + gx]]);
      }
    }
  });
  return out;
}

}  // namespace privprobe
