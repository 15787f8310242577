#include "image/overlay.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "util/error.h"

namespace privprobe {

Box Overlay::ink_bounds() const {
  int min_x = width, min_y = height, max_x = -1, max_y = -1;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      if (pixel(x, y)[3] == 0) continue;
      min_x = std::min(min_x, x);
      max_x = std::max(max_x, x);
      min_y = std::min(min_y, y);
      max_y = std::max(max_y, y);
    }
  }
  if (max_x < 0) return {};
  return {min_x, min_y, max_x - min_x + 1, max_y - min_y + 1};
}

Overlay overlay_side_by_side(const Overlay& a, const Overlay& b, int gap) {
  if (gap < 0) throw ConfigError(error_message("overlay_side_by_side", "negative gap " + std::to_string(gap)));
  const bool has_a = a.width > 0 && a.height > 0;
  const bool has_b = b.width > 0 && b.height > 0;
  if (!has_a) return b;
  if (!has_b) return a;
  Overlay out;
  out.width = a.width + gap + b.width;
  out.height = std::max(a.height, b.height);
  out.rgba.assign(static_cast<std::size_t>(out.width) * out.height * 4, 0);
  auto blit = [&out](const Overlay& src, int x0) {
    for (int y = 0; y < src.height; ++y) {
      std::memcpy(out.pixel(x0, y), src.pixel(0, y), static_cast<std::size_t>(src.width) * 4);
    }
  };
  blit(a, 0);
  blit(b, a.width + gap);
  return out;
}

}  // namespace privprobe
