#include "train/aux_objects.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"
#include "util/json_io.h"

using nlohmann::json;

namespace privprobe {
namespace {

int index_of(const std::vector<std::string>& names, const std::string& name) {
  const auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

std::vector<std::string> string_list(const json& root, const char* key, const std::string& where) {
  const json& list = require_field(root, key, where);
  if (!list.is_array() || list.empty()) throw DataError(error_message(where, std::string("'") + key + "' must be a non-empty array"));
  std::vector<std::string> names;
  for (const auto& item : list) {
    if (!item.is_string()) throw DataError(error_message(where, std::string("'") + key + "' must hold strings"));
    names.push_back(item.get<std::string>());
  }
  return names;
}

// Whether the pixel centre (px + 0.5, py + 0.5) lies inside the object (data/synth_scene.h geometry).
bool inside(const std::string& shape, const ObjectBox& o, int px, int py) {
  const double x = px + 0.5, y = py + 0.5;
  if (x < o.x || x >= o.x + o.w || y < o.y || y >= o.y + o.h) return false;
  if (shape == "square") return true;
  if (shape == "circle") {
    const double dx = (x - (o.x + o.w / 2.0)) / (o.w / 2.0), dy = (y - (o.y + o.h / 2.0)) / (o.h / 2.0);
    return dx * dx + dy * dy <= 1.0;
  }
  // triangle: apex at the middle of the top edge, base along the bottom edge
  const double half_width = (o.w / 2.0) * (y - o.y) / o.h;
  return std::abs(x - (o.x + o.w / 2.0)) <= half_width;
}

}  // namespace

std::vector<std::string> ObjectsIndex::class_names() const {
  std::vector<std::string> names = {"background"};
  for (const auto& shape : shapes) {
    for (const auto& color : colors) names.push_back(color + " " + shape);
  }
  return names;
}

const std::vector<ObjectBox>* ObjectsIndex::find(const std::string& image) const {
  const auto it = images.find(image);
  return it == images.end() ? nullptr : &it->second;
}

ObjectsIndex load_objects(const std::filesystem::path& path) {
  const json root = read_json(path);
  const std::string where = path.string();
  if (!root.is_object()) throw DataError(error_message(where, "is not a JSON object"));
  ObjectsIndex index;
  index.source = path;
  index.shapes = string_list(root, "shapes", where);
  index.colors = string_list(root, "colors", where);
  for (const auto& shape : index.shapes) {
    if (shape != "circle" && shape != "square" && shape != "triangle") {
      throw DataError(error_message(where, "shape '" + shape + "' has no known geometry (circle, square, triangle)"));
    }
  }
  if (index.num_classes() > 255) throw DataError(error_message(where, "too many shape x colour classes (at most 254)"));
  const json& images = require_field(root, "images", where);
  if (!images.is_object()) throw DataError(error_message(where, "'images' must be an object"));
  for (const auto& [image, list] : images.items()) {
    const std::string at = where + ", image '" + image + "'";
    if (!list.is_array()) throw DataError(error_message(at, "objects must be an array"));
    std::vector<ObjectBox> boxes;
    for (const auto& item : list) {
      if (!item.is_object()) throw DataError(error_message(at, "each object must be a JSON object"));
      ObjectBox box;
      const std::string shape = require_string(item, "shape", at), color = require_string(item, "color", at);
      box.shape = index_of(index.shapes, shape);
      box.color = index_of(index.colors, color);
      if (box.shape < 0) throw DataError(error_message(at, "shape '" + shape + "' is not in 'shapes'"));
      if (box.color < 0) throw DataError(error_message(at, "colour '" + color + "' is not in 'colors'"));
      const json& b = require_field(item, "box", at);
      if (!b.is_array() || b.size() != 4 || !std::all_of(b.begin(), b.end(), [](const json& v) { return v.is_number_integer(); })) {
        throw DataError(error_message(at, "box must be [x, y, w, h] integers"));
      }
      box.x = b[0].get<int>();
      box.y = b[1].get<int>();
      box.w = b[2].get<int>();
      box.h = b[3].get<int>();
      if (box.w <= 0 || box.h <= 0) throw DataError(error_message(at, "box width and height must be positive"));
      boxes.push_back(box);
    }
    index.images.emplace(image, std::move(boxes));
  }
  return index;
}

cv::Mat object_label_map(const ObjectsIndex& index, const std::vector<ObjectBox>& objects, int width, int height) {
  cv::Mat map(height, width, CV_8UC1, cv::Scalar(0));
  const int colors = static_cast<int>(index.colors.size());
  for (const ObjectBox& o : objects) {
    const auto label = static_cast<std::uint8_t>(1 + o.shape * colors + o.color);
    const std::string& shape = index.shapes[static_cast<std::size_t>(o.shape)];
    for (int py = std::max(0, o.y); py < std::min(height, o.y + o.h); ++py) {
      for (int px = std::max(0, o.x); px < std::min(width, o.x + o.w); ++px) {
        if (inside(shape, o, px, py)) map.at<std::uint8_t>(py, px) = label;
      }
    }
  }
  return map;
}

std::vector<std::int64_t> patch_labels(const cv::Mat& label_map, int image_size, int patch_size) {
  const int per_side = image_size / patch_size;
  std::vector<std::int64_t> labels;
  labels.reserve(static_cast<std::size_t>(per_side * per_side));
  for (int row = 0; row < per_side; ++row) {
    for (int col = 0; col < per_side; ++col) {
      const double cx = (col + 0.5) * patch_size, cy = (row + 0.5) * patch_size;  // model input pixels
      const int x = std::min(label_map.cols - 1, static_cast<int>(std::floor(cx * label_map.cols / image_size)));
      const int y = std::min(label_map.rows - 1, static_cast<int>(std::floor(cy * label_map.rows / image_size)));
      labels.push_back(label_map.at<std::uint8_t>(y, x));
    }
  }
  return labels;
}

}  // namespace privprobe
