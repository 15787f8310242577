// Model weights <-> safetensors, by Hugging Face parameter name. Loading accepts both layouts
// transformers has written for LlavaForConditionalGeneration:
//   older:  vision_tower.*, multi_modal_projector.*, language_model.model.*, language_model.lm_head.weight
//   newer:  model.vision_tower.*, model.multi_modal_projector.*, model.language_model.*, lm_head.weight
// Saving writes the older layout (which every transformers version loads).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "io/sharded_safetensors.h"

namespace privprobe {

// Maps a checkpoint tensor name to privprobe's (older layout) name; unchanged when already so.
std::string canonical_weight_name(const std::string& name);

struct LoadReport {
  std::vector<std::string> unexpected;  // in the file, not in the model (ignored)
  std::size_t loaded = 0;
};

// Copies every parameter of `module` from `weights`, converting F32/F16/BF16 to the parameter's
// dtype, one tensor at a time; the mapped pages of each tensor are released once copied, so the
// peak resident memory is the model's size plus one tensor. A missing tensor, a shape that
// disagrees with the config, or a floating-point parameter stored in another dtype (F64, I8...)
// -> FormatError naming the file and the tensor. `optional_prefixes`: parameters that may be
// absent (kept as initialised).
LoadReport load_weights(torch::nn::Module& module, const ShardedSafetensors& weights,
                        const std::vector<std::string>& optional_prefixes = {});

// A tensor from the file as a CPU float32 (or `dtype`) torch tensor (copied).
torch::Tensor tensor_from_safetensors(const TensorRef& ref, torch::Dtype dtype = torch::kFloat32);

// Writes named tensors (parameters) into folder as model.safetensors (sharded past
// max_shard_bytes). Floating-point tensors are stored as `dtype` (F32, F16 or BF16), or each in
// its own dtype when it is nullopt (a bf16 base with float32 adapters, for a training state).
void save_weights(const std::filesystem::path& folder, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                  std::optional<torch::Dtype> dtype = torch::kFloat32, std::uint64_t max_shard_bytes = 2'000'000'000ULL,
                  const SafetensorsMetadata& metadata = {});

// Named parameters of a module in registration order, as (name, tensor) pairs.
std::vector<std::pair<std::string, torch::Tensor>> named_tensors(const torch::nn::Module& module);

}  // namespace privprobe
