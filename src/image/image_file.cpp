#include "image/image_file.h"

#include <zlib.h>

#include <cstring>
#include <limits>
#include <string>

#include <opencv2/imgcodecs.hpp>

#include "image/jpeg_support.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace privprobe {
namespace {

using Bytes = std::vector<std::uint8_t>;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what, const std::string& hint = {}) {
  throw FormatError(error_message(path.string(), what, hint));
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint32_t le16(const std::uint8_t* p) { return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8); }
std::uint32_t le24(const std::uint8_t* p) { return le16(p) | (std::uint32_t{p[2]} << 16); }
std::uint32_t le32(const std::uint8_t* p) { return le24(p) | (std::uint32_t{p[3]} << 24); }

bool starts_with(const Bytes& b, std::size_t offset, const char* text) {
  const std::size_t n = std::strlen(text);
  return b.size() >= offset + n && std::memcmp(b.data() + offset, text, n) == 0;
}

ImageFormat sniff_format(const Bytes& b) {
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ImageFormat::kJpeg;
  if (starts_with(b, 0, "\x89PNG\r\n\x1a\n")) return ImageFormat::kPng;
  if (starts_with(b, 0, "BM")) return ImageFormat::kBmp;
  if (starts_with(b, 0, "RIFF") && starts_with(b, 8, "WEBP")) return ImageFormat::kWebp;
  return ImageFormat::kUnknown;
}

// ---- PNG: signature, IHDR (must be the first chunk), chunks up to IDAT for tRNS

constexpr std::size_t kPngSignature = 8;

ImageHeader parse_png(const Bytes& b, const std::filesystem::path& path) {
  if (b.size() < kPngSignature + 8 + 13 + 4) fail(path, "truncated PNG header");
  if (be32(&b[8]) != 13 || !starts_with(b, 12, "IHDR")) fail(path, "corrupt PNG: the first chunk is not IHDR");
  ImageHeader h;
  h.format = ImageFormat::kPng;
  const std::uint32_t width = be32(&b[16]), height = be32(&b[20]);
  const int depth = b[24], color_type = b[25];
  if (width > 0x7FFFFFFFu || height > 0x7FFFFFFFu) fail(path, "corrupt PNG: dimensions out of range");
  h.width = static_cast<int>(width);
  h.height = static_cast<int>(height);
  const bool depth_ok = (color_type == 0 && (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16)) ||
                        (color_type == 3 && (depth == 1 || depth == 2 || depth == 4 || depth == 8)) ||
                        ((color_type == 2 || color_type == 4 || color_type == 6) && (depth == 8 || depth == 16));
  if (!depth_ok) {
    fail(path, "corrupt PNG: colour type " + std::to_string(color_type) + " with bit depth " + std::to_string(depth));
  }
  if (b[28] > 1) fail(path, "corrupt PNG: unknown interlace method");
  h.bit_depth = depth == 16 ? 16 : 8;
  bool has_trns = false;
  for (std::size_t pos = kPngSignature + 25; pos + 8 <= b.size();) {
    const std::uint32_t length = be32(&b[pos]);
    if (starts_with(b, pos + 4, "IDAT") || starts_with(b, pos + 4, "IEND")) break;
    if (starts_with(b, pos + 4, "tRNS")) has_trns = true;
    if (length > b.size() - pos - 8) break;  // truncation is reported by the full check
    pos += 12 + std::size_t{length};
  }
  switch (color_type) {
    case 0: h.channels = 1; break;
    case 4: h.channels = 2; break;
    case 6: h.channels = 4; break;
    default: h.channels = has_trns ? 4 : 3; break;  // RGB or palette; tRNS adds alpha
  }
  return h;
}

// Every chunk lies inside the data with a correct CRC, IDAT is present and IEND ends the
// stream: catches truncated and corrupted files before libpng (which would print to stderr).
void check_png_chunks(const Bytes& b, const std::filesystem::path& path) {
  bool seen_idat = false;
  std::size_t pos = kPngSignature;
  while (true) {
    if (pos + 12 > b.size()) fail(path, "truncated PNG: data ends before the IEND chunk");
    const std::uint32_t length = be32(&b[pos]);
    const std::string type(reinterpret_cast<const char*>(&b[pos + 4]), 4);
    if (length > 0x7FFFFFFFu || length > b.size() - pos - 12) {
      fail(path, "truncated PNG: chunk " + type + " runs past the end of the data");
    }
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), &b[pos + 4], static_cast<uInt>(length + 4));
    if (crc != be32(&b[pos + 8 + length])) fail(path, "corrupt PNG: bad CRC in chunk " + type);
    if (type == "IDAT") seen_idat = true;
    if (type == "IEND") break;
    pos += 12 + std::size_t{length};
  }
  if (!seen_idat) fail(path, "corrupt PNG: no IDAT chunk");
}

// ---- BMP: file header, then a BITMAPCOREHEADER (12 bytes) or BITMAPINFOHEADER and successors

constexpr std::size_t kBmpFileHeader = 14;

struct BmpLayout {
  std::uint32_t data_offset = 0, compression = 0;
  int bits = 0;
};

ImageHeader parse_bmp(const Bytes& b, const std::filesystem::path& path, BmpLayout* layout) {
  if (b.size() < kBmpFileHeader + 4) fail(path, "truncated BMP header");
  const std::uint32_t info_size = le32(&b[14]);
  std::int64_t width = 0, height = 0;
  BmpLayout l;
  l.data_offset = le32(&b[10]);
  if (info_size == 12) {
    if (b.size() < kBmpFileHeader + 12) fail(path, "truncated BMP header");
    width = le16(&b[18]);
    height = le16(&b[20]);
    l.bits = static_cast<int>(le16(&b[24]));
  } else if (info_size >= 40 && info_size <= 124) {
    if (b.size() < kBmpFileHeader + 40) fail(path, "truncated BMP header");
    width = static_cast<std::int32_t>(le32(&b[18]));
    height = static_cast<std::int32_t>(le32(&b[22]));  // negative: rows stored top-down
    l.bits = static_cast<int>(le16(&b[28]));
    l.compression = le32(&b[30]);
  } else {
    fail(path, "corrupt BMP: unknown info header size " + std::to_string(info_size));
  }
  if (height < 0) height = -height;
  if (width <= 0 || height <= 0) fail(path, "corrupt BMP: zero or negative dimensions");
  if (l.bits != 1 && l.bits != 4 && l.bits != 8 && l.bits != 16 && l.bits != 24 && l.bits != 32) {
    fail(path, "corrupt BMP: " + std::to_string(l.bits) + " bits per pixel");
  }
  if (l.compression > 3) fail(path, "unsupported BMP compression " + std::to_string(l.compression));
  ImageHeader h;
  h.format = ImageFormat::kBmp;
  h.width = static_cast<int>(width);
  h.height = static_cast<int>(height);
  h.channels = l.bits == 32 ? 4 : 3;
  if (layout) *layout = l;
  return h;
}

// Uncompressed pixel rows must all be present (OpenCV would otherwise fail with a message on
// stderr). RLE data has no fixed size; its decoder checks as it goes.
void check_bmp_size(const Bytes& b, const ImageHeader& h, const BmpLayout& l, const std::filesystem::path& path) {
  if (l.compression == 1 || l.compression == 2) return;
  const std::uint64_t stride = ((std::uint64_t(h.width) * l.bits + 31) / 32) * 4;
  const std::uint64_t needed = std::uint64_t{l.data_offset} + stride * std::uint64_t(h.height);
  if (needed > b.size()) {
    fail(path, "truncated BMP: pixel data needs " + std::to_string(needed) + " bytes, the file has " +
                   std::to_string(b.size()));
  }
}

// ---- WebP: RIFF container with a VP8 (lossy), VP8L (lossless) or VP8X (extended) first chunk

constexpr std::size_t kRiffHeader = 12;

ImageHeader parse_webp(const Bytes& b, const std::filesystem::path& path) {
  if (b.size() < kRiffHeader + 8) fail(path, "truncated WebP header");
  ImageHeader h;
  h.format = ImageFormat::kWebp;
  const std::uint32_t chunk_size = le32(&b[16]);
  const std::size_t payload = kRiffHeader + 8;
  auto need = [&](std::size_t n) {
    if (chunk_size < n || b.size() < payload + n) fail(path, "truncated WebP header");
  };
  if (starts_with(b, 12, "VP8 ")) {
    need(10);
    if ((b[payload] & 1) != 0) fail(path, "corrupt WebP: first frame is not a key frame");
    if (b[payload + 3] != 0x9D || b[payload + 4] != 0x01 || b[payload + 5] != 0x2A) {
      fail(path, "corrupt WebP: bad VP8 start code");
    }
    h.width = static_cast<int>(le16(&b[payload + 6]) & 0x3FFF);
    h.height = static_cast<int>(le16(&b[payload + 8]) & 0x3FFF);
    h.channels = 3;
    h.lossless = false;
  } else if (starts_with(b, 12, "VP8L")) {
    need(5);
    if (b[payload] != 0x2F) fail(path, "corrupt WebP: bad VP8L signature");
    const std::uint32_t bits = le32(&b[payload + 1]);
    h.width = static_cast<int>((bits & 0x3FFF) + 1);
    h.height = static_cast<int>(((bits >> 14) & 0x3FFF) + 1);
    h.channels = ((bits >> 28) & 1) ? 4 : 3;
    h.lossless = true;
  } else if (starts_with(b, 12, "VP8X")) {
    need(10);
    const std::uint8_t flags = b[payload];
    if (flags & 0x02) fail(path, "animated WebP is not supported");
    h.width = static_cast<int>(le24(&b[payload + 4]) + 1);
    h.height = static_cast<int>(le24(&b[payload + 7]) + 1);
    h.channels = (flags & 0x10) ? 4 : 3;
    // Lossy or lossless is decided by the image chunk that follows (after ICCP, ALPH, ...).
    bool found = false;
    for (std::size_t pos = payload + chunk_size + (chunk_size & 1); pos + 8 <= b.size();) {
      if (starts_with(b, pos, "VP8L") || starts_with(b, pos, "VP8 ")) {
        h.lossless = starts_with(b, pos, "VP8L");
        found = true;
        break;
      }
      const std::uint32_t size = le32(&b[pos + 4]);
      if (size > b.size() - pos - 8) break;
      pos += 8 + std::size_t{size} + (size & 1);
    }
    if (!found) fail(path, "truncated WebP: no image data chunk");
  } else {
    fail(path, "corrupt WebP: unknown first chunk");
  }
  return h;
}

void check_webp_size(const Bytes& b, const std::filesystem::path& path) {
  const std::uint64_t riff_size = le32(&b[4]);
  if (riff_size + 8 > b.size()) {
    fail(path, "truncated WebP: the RIFF header declares " + std::to_string(riff_size + 8) + " bytes, the file has " +
                   std::to_string(b.size()));
  }
}

// ---- JPEG: libjpeg reads the markers up to the first scan

ImageHeader parse_jpeg(const Bytes& b, const std::filesystem::path& path) {
  jpeg::JpegErrors errors;
  jpeg::Decoder decoder(errors);
  if (setjmp(errors.jump)) fail(path, std::string("corrupt JPEG: ") + errors.message);
  decoder.create();
  jpeg_mem_src(&decoder.info, b.data(), static_cast<unsigned long>(b.size()));
  jpeg_read_header(&decoder.info, TRUE);
  ImageHeader h;
  h.format = ImageFormat::kJpeg;
  h.width = static_cast<int>(decoder.info.image_width);
  h.height = static_cast<int>(decoder.info.image_height);
  h.channels = decoder.info.num_components;
  h.lossless = false;
  h.progressive = decoder.info.progressive_mode != 0;
  if (!jpeg::supported_color_space(decoder.info.jpeg_color_space, decoder.info.num_components)) {
    fail(path, "unsupported JPEG colour space (" + std::to_string(h.channels) + " components)");
  }
  return h;
}

// Same arithmetic as OpenCV's icvCvt_CMYK2BGR_8u_C4C3R, so decode_image matches cv::imdecode.
// Adobe CMYK is stored inverted (255 = no ink).
void inverted_cmyk_to_bgr(const cv::Mat& cmyk, cv::Mat& bgr) {
  bgr.create(cmyk.rows, cmyk.cols, CV_8UC3);
  for (int y = 0; y < cmyk.rows; ++y) {
    const std::uint8_t* in = cmyk.ptr<std::uint8_t>(y);
    std::uint8_t* out = bgr.ptr<std::uint8_t>(y);
    for (int x = 0; x < cmyk.cols; ++x, in += 4, out += 3) {
      const int k = in[3];
      out[2] = static_cast<std::uint8_t>(k - (((255 - in[0]) * k) >> 8));
      out[1] = static_cast<std::uint8_t>(k - (((255 - in[1]) * k) >> 8));
      out[0] = static_cast<std::uint8_t>(k - (((255 - in[2]) * k) >> 8));
    }
  }
}

// Decodes with libjpeg directly (not cv::imdecode) because libjpeg only warns about truncated
// data and fills the rest grey; our error manager turns that warning into an error.
cv::Mat decode_jpeg(const Bytes& b, const std::filesystem::path& path) {
  jpeg::JpegErrors errors;
  jpeg::Decoder decoder(errors);
  cv::Mat pixels;
  if (setjmp(errors.jump)) fail(path, std::string("truncated or corrupt JPEG: ") + errors.message);
  decoder.create();
  jpeg_mem_src(&decoder.info, b.data(), static_cast<unsigned long>(b.size()));
  jpeg_read_header(&decoder.info, TRUE);
  switch (decoder.info.num_components) {
    case 1: decoder.info.out_color_space = JCS_GRAYSCALE; break;
    case 3: decoder.info.out_color_space = JCS_EXT_BGR; break;
    default: decoder.info.out_color_space = JCS_CMYK; break;
  }
  jpeg_start_decompress(&decoder.info);
  pixels.create(static_cast<int>(decoder.info.output_height), static_cast<int>(decoder.info.output_width),
                CV_8UC(decoder.info.output_components));
  while (decoder.info.output_scanline < decoder.info.output_height) {
    JSAMPROW row = pixels.ptr<std::uint8_t>(static_cast<int>(decoder.info.output_scanline));
    jpeg_read_scanlines(&decoder.info, &row, 1);
  }
  jpeg_finish_decompress(&decoder.info);
  if (pixels.channels() != 4) return pixels;
  cv::Mat bgr;
  inverted_cmyk_to_bgr(pixels, bgr);
  return bgr;
}

ImageHeader parse_header(const Bytes& b, const std::filesystem::path& path, BmpLayout* bmp_layout) {
  if (b.empty()) fail(path, "empty file (0 bytes)");
  switch (sniff_format(b)) {
    case ImageFormat::kJpeg: return parse_jpeg(b, path);
    case ImageFormat::kPng: return parse_png(b, path);
    case ImageFormat::kBmp: return parse_bmp(b, path, bmp_layout);
    case ImageFormat::kWebp: return parse_webp(b, path);
    case ImageFormat::kUnknown: break;
  }
  fail(path, "not an image: unknown format (expected JPEG, PNG, BMP or WebP)",
       "the format is detected from the content, not from the file name");
}

}  // namespace

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "jpeg";
    case ImageFormat::kPng: return "png";
    case ImageFormat::kBmp: return "bmp";
    case ImageFormat::kWebp: return "webp";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

ImageHeader read_image_header(const Bytes& bytes, const std::filesystem::path& path, std::int64_t max_pixels) {
  ImageHeader h = parse_header(bytes, path, nullptr);
  if (h.width <= 0 || h.height <= 0) fail(path, "zero image dimensions");
  const std::int64_t pixels = std::int64_t{h.width} * h.height;
  if (pixels > max_pixels) {
    fail(path,
         "declared size " + std::to_string(h.width) + "x" + std::to_string(h.height) + " exceeds the limit of " +
             std::to_string(max_pixels) + " pixels",
         "the limit is configurable");
  }
  return h;
}

cv::Mat decode_image(const Bytes& bytes, const std::filesystem::path& path, std::int64_t max_pixels,
                     ImageHeader* header_out) {
  const ImageHeader h = read_image_header(bytes, path, max_pixels);
  if (header_out) *header_out = h;
  cv::Mat image;
  if (h.format == ImageFormat::kJpeg) {
    image = decode_jpeg(bytes, path);
  } else {
    if (h.format == ImageFormat::kPng) check_png_chunks(bytes, path);
    if (h.format == ImageFormat::kWebp) check_webp_size(bytes, path);
    if (h.format == ImageFormat::kBmp) {
      BmpLayout layout;
      parse_bmp(bytes, path, &layout);
      check_bmp_size(bytes, h, layout, path);
    }
    try {
      image = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<std::uint8_t*>(bytes.data())),
                           cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& e) {
      fail(path, std::string("corrupt ") + format_name(h.format) + ": " + e.what());
    }
    if (image.empty()) fail(path, std::string("truncated or corrupt ") + format_name(h.format) + " data");
  }
  if (image.cols != h.width || image.rows != h.height) {
    fail(path, "decoded size " + std::to_string(image.cols) + "x" + std::to_string(image.rows) +
                   " differs from the header's " + std::to_string(h.width) + "x" + std::to_string(h.height));
  }
  return image;
}

cv::Mat read_image(const std::filesystem::path& path, std::int64_t max_pixels) {
  return decode_image(read_file_bytes(path), path, max_pixels);
}

std::vector<std::uint8_t> encode_image(const cv::Mat& image, ImageFormat format, const std::filesystem::path& path,
                                       bool lossless, int jpeg_quality) {
  if (image.empty()) fail(path, "cannot encode an empty image");
  std::string extension;
  std::vector<int> params;
  switch (format) {
    case ImageFormat::kPng: extension = ".png"; break;
    case ImageFormat::kBmp: extension = ".bmp"; break;
    case ImageFormat::kWebp:
      extension = ".webp";
      params = {cv::IMWRITE_WEBP_QUALITY, lossless ? 101 : 95};  // above 100 means lossless
      break;
    case ImageFormat::kJpeg:
      extension = ".jpg";
      params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
      break;
    case ImageFormat::kUnknown: fail(path, "cannot encode: unknown format");
  }
  // OpenCV would silently convert 16-bit pixels to 8 bits for every format but PNG.
  if (image.depth() != CV_8U && !(format == ImageFormat::kPng && image.depth() == CV_16U)) {
    fail(path, std::string("cannot encode ") + (image.depth() == CV_16U ? "16-bit" : "non-8-bit") + " pixels as " +
                   format_name(format));
  }
  std::vector<std::uint8_t> out;
  try {
    if (!cv::imencode(extension, image, out, params)) fail(path, std::string("encoding as ") + format_name(format) + " failed");
  } catch (const cv::Exception& e) {
    fail(path, std::string("encoding as ") + format_name(format) + " failed: " + e.what());
  }
  return out;
}

}  // namespace privprobe
