// `privprobe extract`: runs a checkpoint over a probe set and writes, for every sample, the hidden
// state of every language layer at one prompt position (and optionally the vision tower's states),
// streaming batch by batch so memory is bounded by the batch, not by the probe set.
//
// The prompt is the probe set's question with the image, ending "ASSISTANT:" (the checkpoint's
// template). Files (probeset/activation_file.h):
//   OUT.safetensors  states [N, L+1, D] F32 (language_model.hidden_states.0..L, Hugging Face's
//                    output_hidden_states numbering), vision_states [N, Lv+1, Dv] F32 with --vision
//                    (mean over patches), labels [N], groups [N], profiles [N] (I64; profiles use
//                    the probe set's combined numbering: U1 profile i is i, U2 profile j is |U1| + j)
//   OUT.json         checkpoint, state names, position, question, template, dtype, batch size,
//                    profile lists, and per sample: index, image, label, group, profile,
//                    profile_index, prompt text, input_ids
//   OUT.timing.json  seconds and samples/s (kept apart so the outputs above are reproducible)
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "infer/inference_options.h"

namespace privprobe {

struct ExtractConfig {
  std::filesystem::path model;     // checkpoint folder
  std::filesystem::path probeset;  // probeset.json
  std::filesystem::path out;       // OUT.safetensors
  std::string position = "last";   // last | image-mean | all-mean | index:K (model/capture.h)
  bool vision = false;
  int batch_size = 8;
  std::string shard;               // "" or "i/N", i from 1 (probeset/activation_file.h)
  InferenceOptions inference;

  void validate() const;  // throws ConfigError
};

struct ExtractResult {
  std::int64_t samples = 0;  // in this shard
  std::int64_t states = 0;   // L + 1
  std::int64_t dim = 0;
  double seconds = 0;
};

ExtractResult run_extract(const ExtractConfig& config);

}  // namespace privprobe
