#include "model/image_processor.h"

#include <opencv2/imgproc.hpp>

#include "image/image_file.h"
#include "util/error.h"
#include "util/json_io.h"

using nlohmann::json;

namespace privprobe {
namespace {

// PIL-style size spec: an int, or {"shortest_edge": n} / {"height": h, "width": w}.
void read_size(const json& j, const char* key, int& shortest, int& height, int& width, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (it->is_number_integer()) {
    shortest = height = width = it->get<int>();
  } else if (it->is_object()) {
    if (it->contains("shortest_edge")) shortest = (*it)["shortest_edge"].get<int>();
    if (it->contains("height")) height = (*it)["height"].get<int>();
    if (it->contains("width")) width = (*it)["width"].get<int>();
  } else {
    throw ConfigError(error_message(where, std::string("field '") + key + "' must be an integer or an object"));
  }
}

cv::Mat to_rgb8(const cv::Mat& image) {
  cv::Mat img = image;
  if (img.depth() == CV_16U) img.convertTo(img, CV_8U, 1.0 / 257.0);
  if (img.depth() != CV_8U) throw DataError("image has an unsupported pixel depth");
  cv::Mat rgb;
  switch (img.channels()) {
    case 1: cv::cvtColor(img, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(img, rgb, cv::COLOR_BGRA2RGB); break;  // alpha dropped, as PIL convert("RGB")
    default: throw DataError("image has an unsupported number of channels");
  }
  return rgb;
}

}  // namespace

ImageProcessorConfig ImageProcessorConfig::from_json(const json& j, const std::string& where) {
  ImageProcessorConfig c;
  try {
    c.do_resize = j.value("do_resize", c.do_resize);
    int unused_h = 0, unused_w = 0;
    read_size(j, "size", c.shortest_edge, unused_h, unused_w, where);
    c.do_center_crop = j.value("do_center_crop", c.do_center_crop);
    int unused_s = 0;
    read_size(j, "crop_size", unused_s, c.crop_height, c.crop_width, where);
    c.do_rescale = j.value("do_rescale", c.do_rescale);
    c.rescale_factor = j.value("rescale_factor", c.rescale_factor);
    c.do_normalize = j.value("do_normalize", c.do_normalize);
    if (j.contains("image_mean")) c.image_mean = j["image_mean"].get<std::array<double, 3>>();
    if (j.contains("image_std")) c.image_std = j["image_std"].get<std::array<double, 3>>();
    c.aspect_mode = j.value("image_aspect_ratio", c.aspect_mode);
  } catch (const json::exception& e) {
    throw ConfigError(error_message(where, std::string("malformed preprocessor config: ") + e.what()));
  }
  if (c.aspect_mode != "crop" && c.aspect_mode != "pad") {
    throw ConfigError(error_message(where, "image_aspect_ratio must be 'crop' or 'pad'"));
  }
  if (c.shortest_edge <= 0 || c.crop_height <= 0 || c.crop_width <= 0) {
    throw ConfigError(error_message(where, "image sizes must be positive"));
  }
  return c;
}

json ImageProcessorConfig::to_json() const {
  return {{"image_processor_type", "CLIPImageProcessor"},
          {"do_resize", do_resize},
          {"size", {{"shortest_edge", shortest_edge}}},
          {"resample", 3},
          {"do_center_crop", do_center_crop},
          {"crop_size", {{"height", crop_height}, {"width", crop_width}}},
          {"do_rescale", do_rescale},
          {"rescale_factor", rescale_factor},
          {"do_normalize", do_normalize},
          {"image_mean", image_mean},
          {"image_std", image_std},
          {"do_convert_rgb", true},
          {"image_aspect_ratio", aspect_mode}};
}

ImageProcessorConfig ImageProcessorConfig::for_size(int size) {
  ImageProcessorConfig c;
  c.shortest_edge = c.crop_height = c.crop_width = size;
  return c;
}

ImageProcessorConfig load_image_processor_config(const std::filesystem::path& path) {
  return ImageProcessorConfig::from_json(read_json(path), path.string());
}

torch::Tensor preprocess_image(const cv::Mat& image, const ImageProcessorConfig& c) {
  cv::Mat rgb = to_rgb8(image);
  if (c.aspect_mode == "pad" && rgb.cols != rgb.rows) {
    // LLaVA's expand2square: centred on a square of the mean colour (mean * 255, truncated).
    const int side = std::max(rgb.cols, rgb.rows);
    cv::Mat square(side, side, CV_8UC3,
                   cv::Scalar(static_cast<int>(c.image_mean[0] * 255), static_cast<int>(c.image_mean[1] * 255),
                              static_cast<int>(c.image_mean[2] * 255)));
    rgb.copyTo(square(cv::Rect((side - rgb.cols) / 2, (side - rgb.rows) / 2, rgb.cols, rgb.rows)));
    rgb = square;
  }
  if (c.do_resize) {
    const int short_side = std::min(rgb.cols, rgb.rows);
    if (short_side != c.shortest_edge) {
      const double scale = static_cast<double>(c.shortest_edge) / short_side;
      // Hugging Face: the short side becomes exactly shortest_edge, the long side int(long * scale).
      const int w = rgb.cols <= rgb.rows ? c.shortest_edge : static_cast<int>(rgb.cols * scale);
      const int h = rgb.rows < rgb.cols ? c.shortest_edge : static_cast<int>(rgb.rows * scale);
      cv::Mat resized;
      cv::resize(rgb, resized, cv::Size(w, h), 0, 0, cv::INTER_CUBIC);
      rgb = resized;
    }
  }
  if (c.do_center_crop && (rgb.cols != c.crop_width || rgb.rows != c.crop_height)) {
    // Pads with zeros where the image is smaller than the crop, as Hugging Face's center_crop.
    cv::Mat cropped = cv::Mat::zeros(c.crop_height, c.crop_width, CV_8UC3);
    const int top = (rgb.rows - c.crop_height) / 2, left = (rgb.cols - c.crop_width) / 2;
    const int y0 = std::max(0, top), x0 = std::max(0, left);
    const int y1 = std::min(rgb.rows, top + c.crop_height), x1 = std::min(rgb.cols, left + c.crop_width);
    rgb(cv::Rect(x0, y0, x1 - x0, y1 - y0)).copyTo(cropped(cv::Rect(x0 - left, y0 - top, x1 - x0, y1 - y0)));
    rgb = cropped;
  }
  auto t = torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8).permute({2, 0, 1}).to(torch::kFloat32);  // [3, H, W]
  if (c.do_rescale) t = t * c.rescale_factor;
  if (c.do_normalize) {
    auto mean = torch::tensor({c.image_mean[0], c.image_mean[1], c.image_mean[2]}, torch::kFloat32).view({3, 1, 1});
    auto std = torch::tensor({c.image_std[0], c.image_std[1], c.image_std[2]}, torch::kFloat32).view({3, 1, 1});
    t = (t - mean) / std;
  }
  return t.contiguous();
}

torch::Tensor load_and_preprocess(const std::filesystem::path& path, const ImageProcessorConfig& config) {
  return preprocess_image(read_image(path), config);
}

}  // namespace privprobe
