// Reading and writing image files with the checks untrusted input needs: the format is detected
// from the bytes (not the name), declared dimensions are read from the header and checked against
// a limit before anything is decoded, and every failure names the file and the reason.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace privprobe {

enum class ImageFormat { kJpeg, kPng, kBmp, kWebp, kUnknown };

const char* format_name(ImageFormat format);  // "jpeg", "png", ...

struct ImageHeader {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
  int channels = 0;        // as stored: 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha or CMYK
                           // (palette PNG: 3, or 4 with tRNS; BMP: 4 for 32 bits, else 3)
  int bit_depth = 8;       // 8 or 16
  bool lossless = true;    // false for JPEG and lossy WebP
  bool progressive = false;  // JPEG only
};

inline constexpr std::int64_t kDefaultMaxPixels = 100'000'000;

// Parses only the header. Throws FormatError naming `path` for an unknown format, a truncated
// header, zero dimensions, or width*height > max_pixels.
ImageHeader read_image_header(const std::vector<std::uint8_t>& bytes, const std::filesystem::path& path,
                              std::int64_t max_pixels = kDefaultMaxPixels);

// Header check, then a full decode keeping depth and channels as cv::imdecode(IMREAD_UNCHANGED)
// does (no EXIF rotation), in BGR(A) order: gray stays 1 channel, gray+alpha PNG becomes BGRA,
// CMYK/YCCK JPEG becomes BGR (as OpenCV converts Adobe-inverted CMYK), 16-bit PNG stays 16-bit.
// (OpenCV 4.6 reads 32-bit BMP as BGR, dropping its alpha.) JPEGs are decoded with libjpeg
// directly, identically to OpenCV, because libjpeg only warns about truncated data and fills
// the rest grey. Throws FormatError naming `path` when the data is corrupt or truncated.
cv::Mat decode_image(const std::vector<std::uint8_t>& bytes, const std::filesystem::path& path,
                     std::int64_t max_pixels = kDefaultMaxPixels, ImageHeader* header_out = nullptr);

// Reads and decodes a file (IoError if unreadable).
cv::Mat read_image(const std::filesystem::path& path, std::int64_t max_pixels = kDefaultMaxPixels);

// Encodes in `format`: PNG and BMP losslessly, WebP lossless unless `lossless` is false
// (then quality 95), JPEG at `jpeg_quality`. Throws FormatError naming `path`.
std::vector<std::uint8_t> encode_image(const cv::Mat& image, ImageFormat format, const std::filesystem::path& path,
                                       bool lossless = true, int jpeg_quality = 95);

}  // namespace privprobe
