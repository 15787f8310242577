// A checkpoint folder in Hugging Face's layout, loadable by transformers and by privprobe:
//   config.json               LlavaConfig (+ "privprobe": {"template": ...})
//   model.safetensors         weights (or model-0000i-of-0000n.safetensors + model.safetensors.index.json)
//   tokenizer.model           SentencePiece model (+ added_tokens.json when tokens were added on top)
//   preprocessor_config.json  CLIPImageProcessor settings
//   privprobe.json            provenance: seed, data, parent checkpoint, git revision, format_version
// Saving is atomic: everything is written into a temporary folder beside the target, which then
// replaces it, so a killed save never leaves a half-written checkpoint under the final name.
#pragma once

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

struct LoadedCheckpoint {
  std::filesystem::path folder;
  LlavaConfig config;
  ImageProcessorConfig image_processor;
  SentencePieceTokenizer tokenizer;
  LlavaForConditionalGeneration model{nullptr};
  nlohmann::json provenance = nlohmann::json::object();  // privprobe.json, {} for foreign checkpoints
};

struct CheckpointLoadOptions {
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  std::string template_name;  // empty: the checkpoint's (privprobe), else llava_hf
};

// Throws IoError ("not a checkpoint": no config.json) or FormatError/ConfigError naming the file.
LoadedCheckpoint load_checkpoint(const std::filesystem::path& folder, const CheckpointLoadOptions& options = {});

// True when folder looks like a checkpoint (has config.json and weights).
bool is_checkpoint(const std::filesystem::path& folder);

struct CheckpointSaveOptions {
  std::optional<torch::Dtype> dtype = torch::kFloat32;  // nullopt: each parameter in its own dtype
  std::uint64_t max_shard_bytes = 2'000'000'000ULL;
};

// Writes model, config, tokenizer (tokenizer_file copied as tokenizer.model, added tokens as
// added_tokens.json), image processor and provenance into folder, atomically.
void save_checkpoint(const std::filesystem::path& folder, LlavaForConditionalGeneration& model,
                     const LlavaConfig& config, const std::filesystem::path& tokenizer_file,
                     const SentencePieceTokenizer& tokenizer, const ImageProcessorConfig& image_processor,
                     nlohmann::json provenance, const CheckpointSaveOptions& options = {});

}  // namespace privprobe
