// Test fixtures for the embed tests: noisy images in every layout, JPEGs written with libjpeg
// (so sampling, progressive mode and CMYK are under control), a strict JPEG decoder (no fancy
// upsampling, so pixels outside a watermark's MCU hull must be identical), profile files and
// broken files of each bad-input class.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "image/overlay.h"

namespace privprobe::test {

// Smooth gradients plus noise, deterministic from seed. depth CV_8U or CV_16U; channels 1, 3 or 4
// (alpha varies across the image).
cv::Mat noise_image(int width, int height, int channels, int depth = CV_8U, std::uint32_t seed = 1);

// PNG, BMP or WebP through OpenCV (webp_quality > 100 means lossless).
void write_image(const std::filesystem::path& path, const cv::Mat& image, int webp_quality = 101);

enum class JpegSampling { k444, k422, k420 };
struct JpegOptions {
  int quality = 90;
  JpegSampling sampling = JpegSampling::k420;
  bool progressive = false;
  bool cmyk = false;  // write 4-component Adobe CMYK from a BGR image
};
// image: 1 channel (gray JPEG) or 3 channels BGR.
std::vector<std::uint8_t> encode_jpeg(const cv::Mat& image, const JpegOptions& options = {});
void write_jpeg(const std::filesystem::path& path, const cv::Mat& image, const JpegOptions& options = {});

// Decodes with libjpeg, without fancy upsampling or block smoothing, in the file's own
// component layout (gray, RGB or CMYK). Also reports the MCU size in pixels.
struct StrictJpeg {
  int width = 0, height = 0, components = 0;
  int mcu_width = 8, mcu_height = 8;
  std::vector<std::uint8_t> pixels;  // row-major, `components` bytes a pixel
};
StrictJpeg decode_jpeg_strict(const std::vector<std::uint8_t>& bytes);

// box expanded outward to whole MCUs, clipped to the image.
Box mcu_hull(const Box& box, int mcu_width, int mcu_height, int width, int height);

// Writes n profiles in the paper's JSONL format (no id; integer user_id).
void write_profiles_jsonl(const std::filesystem::path& path, int n);

// A PNG whose IHDR declares width x height (valid CRC) followed by no image data.
std::vector<std::uint8_t> png_header_only(std::uint32_t width, std::uint32_t height);

void write_bytes(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes);
std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path);

// A LLaVA JSON with one sample per image path (a question and an answer each).
std::string llava_json_for(const std::vector<std::string>& image_paths);

}  // namespace privprobe::test
