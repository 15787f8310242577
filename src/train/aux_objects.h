// Targets of the vision tower's auxiliary per-patch loss (`--aux-objects`, the pretraining recipe of
// SCIENCE-NOTES.md): for each patch, the class of the object under the patch centre — one class per
// (shape, colour) pair, 0 for background — from the album's objects.json (data/synth.h: each
// image's objects with shape, colour and box; data/synth_scene.h says how shape and box determine
// the mask). Labels are drawn as a label map at the image's own size, so augmentation can move them
// with the picture (train/augment.h), then read at the patch centres of the model's input, which
// assumes the image fills the model's square input (synthetic album images are square).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace privprobe {

struct ObjectBox {
  int shape = 0;  // index into ObjectsIndex::shapes
  int color = 0;  // index into ObjectsIndex::colors
  int x = 0, y = 0, w = 0, h = 0;
};

struct ObjectsIndex {
  std::filesystem::path source;
  std::vector<std::string> shapes, colors;
  std::map<std::string, std::vector<ObjectBox>> images;  // by image path relative to the album

  int num_classes() const { return 1 + static_cast<int>(shapes.size() * colors.size()); }
  // "background", then "red circle"...
  std::vector<std::string> class_names() const;
  const std::vector<ObjectBox>* find(const std::string& image) const;
};

// Reads objects.json. Throws IoError, FormatError (not JSON) or DataError naming the file and the
// image for a missing field, an unknown shape or colour, or a box with non-positive size.
ObjectsIndex load_objects(const std::filesystem::path& path);

// Label map (CV_8UC1, width x height): 0 background, 1 + shape * |colors| + colour inside each
// object's mask (pixel centres tested against the exact geometry).
cv::Mat object_label_map(const ObjectsIndex& index, const std::vector<ObjectBox>& objects, int width, int height);

// The label under the centre of each patch of a model input of image_size pixels and patch_size
// patches (row-major), reading the label map stretched over the input.
std::vector<std::int64_t> patch_labels(const cv::Mat& label_map, int image_size, int patch_size);

}  // namespace privprobe
