// The study folder's files other than results.json that the report draws from: training logs,
// gradient dynamics, one layer of an activation file, watermarked sample images. Each is optional
// (the report leaves its section out and says why), so a missing file gives an empty result; a
// file that exists but is malformed throws FormatError / DataError naming it and the line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace privprobe {

// models/<id>/train_log.jsonl: the loss at each step.
struct LossCurve {
  std::vector<long long> steps;
  std::vector<double> losses;
};

// Nothing when models/<id>/train_log.jsonl does not exist.
std::optional<LossCurve> load_loss_curve(const std::filesystem::path& study, const std::string& model);

// One part's gradient measurements at a step (docs/train.md, dynamics.jsonl); unset when the
// batch did not allow the measurement (cos_wm_clean needs watermarked and clean samples).
struct PartMeasure {
  std::optional<double> cos_batch_clean, relative_change, cos_wm_clean, grad_norm;
};

struct DynamicsRow {
  long long step = 0;
  double wm_fraction = 0;
  std::optional<PartMeasure> whole;                         // unset only for a fully frozen model
  std::map<std::string, std::optional<PartMeasure>> parts;  // unset: the part is frozen
};

// Nothing when models/<id>/dynamics.jsonl does not exist.
std::optional<std::vector<DynamicsRow>> load_dynamics(const std::filesystem::path& study, const std::string& model);

// The states of one hidden-state entry of an activation file (states [N, L+1, D], labels [N]).
struct LayerStates {
  cv::Mat states;           // N x D, CV_32F
  std::vector<int> labels;  // 1 seen, 0 unseen
};

// acts/<id>.safetensors relative to the study folder.
std::filesystem::path activation_path(const std::filesystem::path& study, const std::string& model);

// Reads entry `layer` of `states` (F32, F16, BF16 or F64) and `labels` without libtorch.
// Throws IoError / FormatError (not a safetensors file) / DataError (a missing tensor, a wrong
// shape or dtype, a layer out of range, labels other than 0 and 1, non-finite states), naming the file.
LayerStates load_layer_states(const std::filesystem::path& path, int layer);

// A watermarked training image of one arm, ready to embed.
struct WatermarkedSample {
  std::string arm;
  std::string output;   // relative to data/embed/<arm>/
  std::string profile;  // the profile id drawn on it
  std::vector<std::uint8_t> png;
  int width = 0, height = 0;
};

// Up to `count` watermarked images from data/embed/<arm>/manifest.jsonl (rows with a profile and
// status "ok", in manifest order), scaled to at most max_side pixels and encoded as PNG. The arm
// is `preferred_arm` when its manifest exists, else the first arm (sorted) that has one. Empty
// when no arm has a watermarked image.
std::vector<WatermarkedSample> load_watermarked_samples(const std::filesystem::path& study,
                                                        const std::string& preferred_arm, std::size_t count,
                                                        int max_side);

}  // namespace privprobe
