// An overlay is a small RGBA picture (straight, not premultiplied, alpha) drawn onto an image at
// a position: the watermark's text block or identicon. Alpha already includes the opacity.
#pragma once

#include <cstdint>
#include <vector>

namespace privprobe {

struct Box {
  int x = 0, y = 0, width = 0, height = 0;
  bool empty() const { return width <= 0 || height <= 0; }
  bool operator==(const Box& o) const { return x == o.x && y == o.y && width == o.width && height == o.height; }
};

struct Overlay {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> rgba;  // width * height * 4, row-major

  std::uint8_t* pixel(int x, int y) { return rgba.data() + (static_cast<std::size_t>(y) * width + x) * 4; }
  const std::uint8_t* pixel(int x, int y) const {
    return rgba.data() + (static_cast<std::size_t>(y) * width + x) * 4;
  }
  // Smallest box holding every pixel with alpha > 0, in overlay coordinates (empty if none).
  Box ink_bounds() const;
};

// Places b beside a (left to right, top-aligned, `gap` pixels apart) into one overlay.
Overlay overlay_side_by_side(const Overlay& a, const Overlay& b, int gap);

}  // namespace privprobe
