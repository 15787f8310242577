// JPEG fixtures made with libjpeg's compressor (sampling factors, colour spaces, progressive
// mode, markers chosen per test) and a plain libjpeg decoder for checking results.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

namespace privprobe::test {

enum class JpegKind { kYcc420, kYcc422, kYcc444, kGray, kCmyk, kYcck };

struct JpegOptions {
  JpegKind kind = JpegKind::kYcc420;
  bool progressive = false;
  int quality = 90;
  bool markers = false;   // add an APP1 "Exif" marker and a COM marker
  int restart_rows = 0;   // restart interval in MCU rows (0: none)
  bool many_scans = false;  // progressive with one scan per coefficient and bit (380 scans)
};

// A deterministic textured picture (gradients, stripes, noise) so every block has detail.
// channels: 1 (gray), 3 (BGR) or 4 (CMYK, Adobe-inverted: 255 = no ink).
cv::Mat textured_image(int width, int height, int channels, std::uint64_t seed);

// Compresses `pixels` (gray for kGray, BGR for YCbCr kinds, inverted CMYK for kCmyk/kYcck).
std::vector<std::uint8_t> make_jpeg(const cv::Mat& pixels, const JpegOptions& options);

// Decodes with libjpeg, with or without fancy (smoothing) chroma upsampling. Output: gray,
// RGB, or the stored CMYK values without conversion. Throws std::runtime_error on any error
// or damage warning.
cv::Mat decode_jpeg_plain(const std::vector<std::uint8_t>& bytes, bool fancy_upsampling);

// The APPn and COM markers of a JPEG: (marker code, payload).
std::vector<std::pair<int, std::string>> jpeg_markers(const std::vector<std::uint8_t>& bytes);

// The source file's quantization tables, flattened, for checking they survive an edit.
std::vector<int> jpeg_quant_tables(const std::vector<std::uint8_t>& bytes);

}  // namespace privprobe::test
