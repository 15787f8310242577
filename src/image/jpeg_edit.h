// Watermarking a JPEG without re-encoding it: the DCT coefficients are read with libjpeg-turbo,
// only the 8x8 blocks (whole MCUs, chroma subsampling included) that the overlay's box touches
// are recomputed, with the source's own quantization tables, and the coefficients are written
// back with the source's markers (EXIF, ICC, comments) and progressive/baseline mode.
// Decoding source and output gives identical pixels outside the box's MCU-aligned hull when
// chroma is upsampled without smoothing; with libjpeg's default "fancy" upsampling the hull's
// neighbours by one pixel may also differ (the upsampling filter reads across block edges).
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "image/image_file.h"
#include "image/overlay.h"

namespace privprobe {

struct JpegEditResult {
  std::vector<std::uint8_t> bytes;
  Box touched;  // the overlay's box clipped to the image
  Box hull;     // touched, expanded to whole MCUs (clipped to the image)
};

// Composites `overlay` at (x, y) onto the JPEG in `source`. Gray, YCbCr (any sampling), CMYK and
// YCCK sources work. Throws FormatError naming `path` for a corrupt, truncated or unsupported
// source, or one whose declared size exceeds `max_pixels`. Only blocks whose pixels the overlay
// inks (alpha > 0) are replaced; with no ink in the image the source bytes come back unchanged.
JpegEditResult jpeg_composite(const std::vector<std::uint8_t>& source, const Overlay& overlay, int x, int y,
                              const std::filesystem::path& path, std::int64_t max_pixels = kDefaultMaxPixels);

}  // namespace privprobe
