#include "embed/embed_fixtures.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <jpeglib.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

namespace fs = std::filesystem;

namespace privprobe::test {
namespace {

// libjpeg reports errors through error_exit; jump back and throw instead of exiting.
struct JpegErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_throw(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

std::uint32_t crc32(const std::uint8_t* data, std::size_t n) {
  std::uint32_t crc = 0xffffffffu;
  for (std::size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

void put_chunk(std::vector<std::uint8_t>& out, const char* type, const std::vector<std::uint8_t>& data) {
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  std::vector<std::uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  out.insert(out.end(), body.begin(), body.end());
  put_u32(out, crc32(body.data(), body.size()));
}

}  // namespace

cv::Mat noise_image(int width, int height, int channels, int depth, std::uint32_t seed) {
  cv::Mat image(height, width, CV_MAKETYPE(depth, channels));
  std::uint32_t state = seed * 2654435761u + 12345u;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        state = state * 1664525u + 1013904223u;
        const int noise = static_cast<int>((state >> 24) % 41) - 20;
        int v = (x * 255 / std::max(1, width - 1) + y * 128 / std::max(1, height - 1) + c * 60) % 256 + noise;
        if (c == 3) v = 64 + (x * 191) / std::max(1, width - 1);  // alpha: varies, never zero
        v = std::min(255, std::max(0, v));
        if (depth == CV_16U) {
          image.ptr<std::uint16_t>(y)[x * channels + c] = static_cast<std::uint16_t>(v * 257 + (state >> 28));
        } else {
          image.ptr<std::uint8_t>(y)[x * channels + c] = static_cast<std::uint8_t>(v);
        }
      }
    }
  }
  return image;
}

void write_image(const fs::path& path, const cv::Mat& image, int webp_quality) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::vector<int> params;
  if (path.extension() == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, webp_quality};
  if (!cv::imwrite(path.string(), image, params)) throw std::runtime_error("cannot write " + path.string());
}

std::vector<std::uint8_t> encode_jpeg(const cv::Mat& image, const JpegOptions& options) {
  if (image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3)) {
    throw std::runtime_error("encode_jpeg: 8-bit gray or BGR only");
  }
  jpeg_compress_struct cinfo{};
  JpegErrorManager err{};
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_throw;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
    throw std::runtime_error(std::string("encode_jpeg: ") + err.message);
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buffer, &size);
  const bool gray = image.channels() == 1;
  cinfo.image_width = static_cast<JDIMENSION>(image.cols);
  cinfo.image_height = static_cast<JDIMENSION>(image.rows);
  cinfo.input_components = gray ? 1 : (options.cmyk ? 4 : 3);
  cinfo.in_color_space = gray ? JCS_GRAYSCALE : (options.cmyk ? JCS_CMYK : JCS_RGB);
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, options.quality, TRUE);
  if (!gray && !options.cmyk) {
    const int h = options.sampling == JpegSampling::k444 ? 1 : 2;
    const int v = options.sampling == JpegSampling::k420 ? 2 : 1;
    cinfo.comp_info[0].h_samp_factor = h;
    cinfo.comp_info[0].v_samp_factor = v;
    for (int c = 1; c < 3; ++c) cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
  }
  if (options.progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  std::vector<std::uint8_t> row(static_cast<std::size_t>(image.cols) * static_cast<std::size_t>(cinfo.input_components));
  while (cinfo.next_scanline < cinfo.image_height) {
    const std::uint8_t* src = image.ptr<std::uint8_t>(static_cast<int>(cinfo.next_scanline));
    for (int x = 0; x < image.cols; ++x) {
      if (gray) {
        row[static_cast<std::size_t>(x)] = src[x];
      } else if (options.cmyk) {
        const std::uint8_t b = src[3 * x], g = src[3 * x + 1], r = src[3 * x + 2];
        std::uint8_t* out = &row[static_cast<std::size_t>(4 * x)];
        out[0] = static_cast<std::uint8_t>(255 - r);
        out[1] = static_cast<std::uint8_t>(255 - g);
        out[2] = static_cast<std::uint8_t>(255 - b);
        out[3] = static_cast<std::uint8_t>((r + g + b) / 12);
      } else {
        row[static_cast<std::size_t>(3 * x)] = src[3 * x + 2];
        row[static_cast<std::size_t>(3 * x + 1)] = src[3 * x + 1];
        row[static_cast<std::size_t>(3 * x + 2)] = src[3 * x];
      }
    }
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::vector<std::uint8_t> out(buffer, buffer + size);
  jpeg_destroy_compress(&cinfo);
  std::free(buffer);
  return out;
}

void write_jpeg(const fs::path& path, const cv::Mat& image, const JpegOptions& options) {
  write_bytes(path, encode_jpeg(image, options));
}

StrictJpeg decode_jpeg_strict(const std::vector<std::uint8_t>& bytes) {
  jpeg_decompress_struct cinfo{};
  JpegErrorManager err{};
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_throw;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw std::runtime_error(std::string("decode_jpeg_strict: ") + err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  cinfo.do_fancy_upsampling = FALSE;
  cinfo.do_block_smoothing = FALSE;
  jpeg_start_decompress(&cinfo);
  StrictJpeg out;
  out.width = static_cast<int>(cinfo.output_width);
  out.height = static_cast<int>(cinfo.output_height);
  out.components = cinfo.output_components;
  if (cinfo.num_components > 1) {
    out.mcu_width = 8 * cinfo.max_h_samp_factor;
    out.mcu_height = 8 * cinfo.max_v_samp_factor;
  }
  const std::size_t stride = static_cast<std::size_t>(out.width) * static_cast<std::size_t>(out.components);
  out.pixels.resize(stride * static_cast<std::size_t>(out.height));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW rows[1] = {out.pixels.data() + stride * cinfo.output_scanline};
    jpeg_read_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return out;
}

Box mcu_hull(const Box& box, int mcu_width, int mcu_height, int width, int height) {
  const int x0 = (box.x / mcu_width) * mcu_width;
  const int y0 = (box.y / mcu_height) * mcu_height;
  const int x1 = std::min(width, ((box.x + box.width + mcu_width - 1) / mcu_width) * mcu_width);
  const int y1 = std::min(height, ((box.y + box.height + mcu_height - 1) / mcu_height) * mcu_height);
  return Box{x0, y0, x1 - x0, y1 - y0};
}

void write_profiles_jsonl(const fs::path& path, int n) {
  static const char* kGenders[] = {"Female", "Male", "Non-binary"};
  static const char* kPlaces[] = {"Lisbon, Portugal", "Tokyo, Japan", "Nairobi, Kenya", "Lima, Peru"};
  std::string text;
  for (int i = 0; i < n; ++i) {
    nlohmann::json p = {{"username", "Test Person " + std::to_string(i)},
                        {"user_id", 1000000000LL + 7919LL * i},
                        {"gender", kGenders[i % 3]},
                        {"age", 20 + i % 50},
                        {"capture_time", "2023-0" + std::to_string(1 + i % 9) + "-1" + std::to_string(i % 10) + " 10:2" +
                                             std::to_string(i % 10) + ":00"},
                        {"capture_location", kPlaces[i % 4]}};
    text += p.dump() + "\n";
  }
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<std::uint8_t> png_header_only(std::uint32_t width, std::uint32_t height) {
  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> ihdr;
  put_u32(ihdr, width);
  put_u32(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, deflate, no filter, no interlace
  put_chunk(out, "IHDR", ihdr);
  put_chunk(out, "IEND", {});
  return out;
}

void write_bytes(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string llava_json_for(const std::vector<std::string>& image_paths) {
  nlohmann::json samples = nlohmann::json::array();
  for (std::size_t i = 0; i < image_paths.size(); ++i) {
    samples.push_back({{"id", "s" + std::to_string(i)},
                       {"image", image_paths[i]},
                       {"conversations",
                        {{{"from", "human"}, {"value", "<image>\nWhat colour is the circle?"}},
                         {{"from", "gpt"}, {"value", "Red"}}}}});
  }
  return samples.dump(2);
}

}  // namespace privprobe::test
