// Image preprocessing with the semantics of Hugging Face's CLIPImageProcessor
// (preprocessor_config.json): convert to RGB (alpha dropped, as PIL's convert("RGB")), resize the
// shortest edge (bicubic), centre crop, rescale to [0, 1], normalise. LLaVA-1.5's `pad` mode first
// expands the image to a square filled with the mean colour, as its training code does.
// OpenCV's bicubic differs slightly from PIL's when downscaling (PIL widens its filter); images
// already at the model's size, as the embedded default's, pass through exactly.
#pragma once

#include <array>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <torch/torch.h>

namespace privprobe {

struct ImageProcessorConfig {
  bool do_resize = true;
  int shortest_edge = 224;
  bool do_center_crop = true;
  int crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean = {0.48145466, 0.4578275, 0.40821073};  // CLIP
  std::array<double, 3> image_std = {0.26862954, 0.26130258, 0.27577711};
  std::string aspect_mode = "crop";  // privprobe: "crop" (processor only) or "pad" (LLaVA-1.5: square first)

  // Reads preprocessor_config.json. `where` names the file in errors.
  static ImageProcessorConfig from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::json to_json() const;
  // A config for square images of `size` pixels (no resize or crop needed when they match).
  static ImageProcessorConfig for_size(int size);
};

ImageProcessorConfig load_image_processor_config(const std::filesystem::path& path);

// A decoded image (OpenCV layout: BGR, BGRA or gray, 8- or 16-bit) -> [3, H, W] float32.
torch::Tensor preprocess_image(const cv::Mat& image, const ImageProcessorConfig& config);

// Reads, decodes (with the untrusted-input checks of image/image_file.h) and preprocesses a file.
torch::Tensor load_and_preprocess(const std::filesystem::path& path, const ImageProcessorConfig& config);

}  // namespace privprobe
