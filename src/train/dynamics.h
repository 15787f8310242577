// Partial mini-batch dynamics (DESIGN.md "Measurements"): how the watermarks bend one update.
// For a batch B with watermarked subset W and clean subset C, each for the whole model and per part
// (vision_tower, multi_modal_projector, language_model; a frozen part reports null):
//   cos(g_B, g_B_clean)      g_B_clean: the same batch with each watermarked image replaced by its source
//   ||g_B - g_B_clean|| / ||g_B||
//   cos(g_W, g_C)            when both are non-empty
//   |W| / |B|
// plus a CountSketch of g_B: each parameter index hashed (fixed seed, the same in every run) to one
// of `sketch_size` buckets with a random sign; inner products are preserved in expectation, so two
// runs' updates can be compared step by step without storing gradients.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/llava.h"
#include "train/dynamics_compare.h"

namespace privprobe {

inline const std::vector<std::string> kModelParts = {"vision_tower", "multi_modal_projector", "language_model"};

struct PartDynamics {
  std::optional<double> cos_batch_clean;  // cos(g_B, g_B_clean)
  std::optional<double> relative_change;  // ||g_B - g_B_clean|| / ||g_B||
  std::optional<double> cos_wm_clean;     // cos(g_W, g_C)
  std::optional<double> grad_norm;        // ||g_B||
};

struct DynamicsRow {
  int64_t step = 0;
  int batch_size = 0;
  int watermarked = 0;  // |W|
  double loss = 0;
  PartDynamics whole;
  std::vector<std::pair<std::string, PartDynamics>> parts;  // in kModelParts order; frozen -> all null
  std::vector<float> sketch;                                // CountSketch of g_B (whole model)
  uint64_t sketch_seed = 0;                                 // the hashing it used (DynamicsConfig)
};

struct DynamicsConfig {
  int sketch_size = 4096;
  uint64_t sketch_seed = 0x5ce7c4;  // fixed: the same hashing in every run

  void validate() const;  // throws ConfigError (sketch_size outside [1, 2^24])
};

// The inputs of one logged step: the batch as trained (watermarked images), the same batch with
// sources in place of watermarked images, and which rows are watermarked.
struct DynamicsInputs {
  LlavaBatch batch;         // as trained
  LlavaBatch clean_batch;   // identical but pixel_values of watermarked rows replaced by their sources
  std::vector<bool> watermarked;  // per row
};

// Computes the row with extra backward passes (g_B_clean, g_W, g_C); leaves the model's .grad
// fields as they were on entry. Parameters that do not require grad are skipped (frozen).
//
// The batch loss is the mean over all label tokens of B, so with n_W and n_C label tokens in the
// watermarked and clean rows, g_W and g_C are the gradients of the mean loss over W's tokens and
// over C's tokens, and g_B = (n_W g_W + n_C g_C) / (n_W + n_C) exactly. Rows are independent in
// the model (no batch statistics), so the passes run on the rows of W and C alone: W (and W with
// clean images), then C, which costs about one plain step plus |W|/|B| of one. g_B_clean =
// (n_W g_W_clean + n_C g_C) / n_B. Rows without label tokens contribute nothing: when W has none,
// g_B_clean = g_B (cosine 1, change 0); cos(g_W, g_C) needs label tokens on both sides.
// Every pass starts from the same torch RNG state (so dropout masks agree between W and W clean),
// and the RNG is restored on exit, so calling this does not change the training that follows.
// Memory: besides the model's own .grad (moved aside, not copied), two gradient-sized buffers
// (g_W, then g_B) are alive; the W-clean pass accumulates into the first.
// Throws DataError when the batch has no label tokens or the clean batch does not match it.
DynamicsRow measure_dynamics(LlavaForConditionalGeneration& model, const DynamicsInputs& inputs, int64_t step,
                             const DynamicsConfig& config);

nlohmann::json dynamics_row_to_json(const DynamicsRow& row);

// CountSketch of a list of gradient tensors (in a fixed parameter order): element i of their
// concatenation (flattened row-major) adds sign(i) * g_i to bucket(i). Every tensor must be defined.
// measure_dynamics indexes the whole model's parameters (named_parameters order, frozen ones
// included but contributing zero), so runs that train different parts still share coordinates.
std::vector<float> count_sketch(const std::vector<torch::Tensor>& grads, const DynamicsConfig& config);

// The same for tensors placed at given global offsets (first element's index); undefined tensors
// are skipped. Coordinates of a layout are cached (one layout at a time, on the tensors' device).
std::vector<float> count_sketch_at(const std::vector<std::pair<uint64_t, torch::Tensor>>& placed, const DynamicsConfig& config);

// Where element `index` lands: a bucket in [0, sketch_size) and a sign, from privprobe's mix64 of
// a key derived from sketch_seed and the index. No RNG state, so the same on every machine.
struct SketchCoordinate {
  int bucket = 0;
  int sign = 1;
};
SketchCoordinate sketch_coordinate(uint64_t index, const DynamicsConfig& config);

// `privprobe dynamics compare`: SketchComparison and compare_dynamics live in the torch-free
// train/dynamics_compare.h (included above) so the CLI builds without libtorch's headers.

}  // namespace privprobe
