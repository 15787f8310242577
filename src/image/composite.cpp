#include "image/composite.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "util/error.h"

namespace privprobe {
namespace {

// Straight-alpha "over" with rounding to nearest, for one pixel of `channels` values of type T
// whose full scale is `full` (255 or 65535). `rgba` is the overlay pixel (8-bit RGBA).
template <typename T>
void blend_pixel(T* px, int channels, const std::uint8_t* rgba, double full) {
  const double a = rgba[3] / 255.0;
  const double scale = full / 255.0;
  if (channels == 1) {
    const double luma = (0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]) * scale;
    px[0] = static_cast<T>(std::lround(luma * a + px[0] * (1.0 - a)));
    return;
  }
  // OpenCV order: B, G, R (, A).
  const double colour[3] = {rgba[2] * scale, rgba[1] * scale, rgba[0] * scale};
  if (channels == 3) {
    for (int c = 0; c < 3; ++c) px[c] = static_cast<T>(std::lround(colour[c] * a + px[c] * (1.0 - a)));
    return;
  }
  const double image_a = px[3] / full;
  const double out_a = a + image_a * (1.0 - a);
  if (out_a <= 0) return;  // unreachable for a > 0, kept for safety against division by zero
  for (int c = 0; c < 3; ++c) {
    const double v = (colour[c] * a + px[c] * image_a * (1.0 - a)) / out_a;
    px[c] = static_cast<T>(std::clamp<long>(std::lround(v), 0, static_cast<long>(full)));
  }
  px[3] = static_cast<T>(std::lround(out_a * full));
}

// 8-bit gray/BGR without floating point: the common case (every JPEG hull, most PNGs).
void blend_row_u8(std::uint8_t* px, int channels, const std::uint8_t* rgba, int count) {
  for (int i = 0; i < count; ++i, px += channels, rgba += 4) {
    const int a = rgba[3];
    if (a == 0) continue;
    const int keep = 255 - a;
    if (channels == 1) {
      const int luma = (299 * rgba[0] + 587 * rgba[1] + 114 * rgba[2] + 500) / 1000;  // BT.601, rounded
      px[0] = static_cast<std::uint8_t>((luma * a + px[0] * keep + 127) / 255);
    } else {
      px[0] = static_cast<std::uint8_t>((rgba[2] * a + px[0] * keep + 127) / 255);
      px[1] = static_cast<std::uint8_t>((rgba[1] * a + px[1] * keep + 127) / 255);
      px[2] = static_cast<std::uint8_t>((rgba[0] * a + px[2] * keep + 127) / 255);
    }
  }
}

}  // namespace

Box composite_overlay(cv::Mat& image, const Overlay& overlay, int x, int y) {
  const int channels = image.channels();
  const int depth = image.depth();
  if ((depth != CV_8U && depth != CV_16U) || (channels != 1 && channels != 3 && channels != 4)) {
    throw DataError(error_message("composite_overlay", "unsupported pixel layout (" + std::to_string(channels) +
                                                           " channels, OpenCV depth " + std::to_string(depth) + ")"));
  }
  if (overlay.rgba.size() != static_cast<std::size_t>(overlay.width) * overlay.height * 4) {
    throw DataError(error_message("composite_overlay", "overlay buffer size does not match its dimensions"));
  }
  // Clip [x, x + w) x [y, y + h) to the image, in 64 bits so huge offsets cannot overflow.
  const long long x0 = std::max<long long>(x, 0), y0 = std::max<long long>(y, 0);
  const long long x1 = std::min<long long>(static_cast<long long>(x) + overlay.width, image.cols);
  const long long y1 = std::min<long long>(static_cast<long long>(y) + overlay.height, image.rows);
  if (x1 <= x0 || y1 <= y0) return {};
  const Box box{static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(x1 - x0), static_cast<int>(y1 - y0)};

  for (int iy = box.y; iy < box.y + box.height; ++iy) {
    const std::uint8_t* src = overlay.pixel(box.x - x, iy - y);
    if (depth == CV_8U && channels != 4) {
      blend_row_u8(image.ptr<std::uint8_t>(iy) + static_cast<std::size_t>(box.x) * channels, channels, src, box.width);
      continue;
    }
    for (int ix = box.x; ix < box.x + box.width; ++ix, src += 4) {
      if (src[3] == 0) continue;
      if (depth == CV_8U) {
        blend_pixel(image.ptr<std::uint8_t>(iy) + static_cast<std::size_t>(ix) * channels, channels, src, 255.0);
      } else {
        blend_pixel(image.ptr<std::uint16_t>(iy) + static_cast<std::size_t>(ix) * channels, channels, src, 65535.0);
      }
    }
  }
  return box;
}

}  // namespace privprobe
