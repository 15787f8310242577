// The resumable state of a run, RUN/state/, replaced atomically every --save-every steps and at the
// end (written complete into a temporary folder beside it, then swapped in):
//   checkpoint/          the model in Hugging Face layout (save_checkpoint; with LoRA the adapter
//                        tensors are stored beside the base weights, under their module paths)
//   optimizer.pt         AdamW moments and step counts, by parameter position (same bytes every run)
//   aux_head.pt          the auxiliary per-patch head, when the run has one (torch::save)
//   rng.pt               libtorch's CPU generator state (dropout draws)
//   trainer_state.json   written last: step, bytes of the deterministic logs at that step, format_version
// (train_timing.jsonl, whose bytes vary, is cut back by lines: one per step.)
// The data position is the step itself: batch order and augmentation are functions of (seed, step).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/image_processor.h"
#include "model/llava.h"
#include "model/llava_config.h"
#include "text/sentencepiece_tokenizer.h"

namespace privprobe {

inline constexpr const char* kTrainStateDir = "state";
inline constexpr const char* kTrainStateFile = "trainer_state.json";

struct TrainState {
  std::int64_t step = 0;  // optimizer steps done
  std::int64_t total_steps = 0;
  std::uint64_t log_bytes = 0;       // train_log.jsonl length at `step`
  std::uint64_t dynamics_bytes = 0;  // dynamics.jsonl
};

// What the state's checkpoint needs besides the model.
struct StateCheckpointInfo {
  const LlavaConfig* config = nullptr;
  std::filesystem::path tokenizer_file;
  const SentencePieceTokenizer* tokenizer = nullptr;
  const ImageProcessorConfig* processor = nullptr;
  nlohmann::json provenance;
};

// Writes RUN/state atomically. aux_head may be null.
void save_train_state(const std::filesystem::path& run, const TrainState& state, LlavaForConditionalGeneration& model,
                      torch::optim::AdamW& optimizer, torch::nn::Module* aux_head, const StateCheckpointInfo& info);

// The latest complete state of a run, if any. A run killed between the two renames of a swap leaves
// its states under temporary names; the most advanced complete one is moved back into place.
std::optional<TrainState> find_train_state(const std::filesystem::path& run);

// Restores model weights (including adapters), optimizer, aux head and the generator from RUN/state.
// Throws FormatError/IoError naming the file when something does not fit.
void load_train_state(const std::filesystem::path& run, LlavaForConditionalGeneration& model,
                      torch::optim::AdamW& optimizer, torch::nn::Module* aux_head);

// libtorch's default CPU generator (dropout draws): saved with the state, and around measurements
// that must not change the training run's random stream.
torch::Tensor torch_generator_state();
void set_torch_generator_state(const torch::Tensor& state);

// Whether every parameter is finite (a state is only saved when it is).
bool all_finite(torch::nn::Module& module);

}  // namespace privprobe
