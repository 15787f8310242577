// LoRA fine-tuning on top of model/linear.h's adapters: which layers get one, freezing the rest,
// and saving/loading in PEFT's layout (adapter_config.json + adapter_model.safetensors with tensor
// names "base_model.model.<module path>.lora_A.weight").
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/linear.h"
#include "model/llava.h"

namespace privprobe {

struct LoraConfig {
  int rank = 0;  // 0: no LoRA (full fine-tuning)
  double alpha = 16;
  double dropout = 0.05;
  // Module names (last path component) that get adapters, within the language model by default,
  // as LLaVA's LoRA recipe.
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  std::string scope = "language_model";  // module path prefix the targets are searched under

  void validate() const;  // throws ConfigError
};

// Adds adapters; returns the module paths that got one (e.g. "language_model.model.layers.0.self_attn.q_proj").
// Throws ConfigError when no module matches.
std::vector<std::string> apply_lora(LlavaForConditionalGeneration& model, const LoraConfig& config);

// requires_grad only for LoRA parameters (plus, optionally, the projector: LLaVA trains it with its own lr).
void freeze_all_but_lora(LlavaForConditionalGeneration& model, bool train_projector);

// Folds every adapter into its weight.
void merge_lora(LlavaForConditionalGeneration& model);

// PEFT layout into folder (replaced atomically): adapter_config.json and adapter_model.safetensors,
// tensors in their own dtype. target_modules is written as a regular expression that PEFT full-
// matches, so the scope (e.g. the language model only) survives. When the projector was trained
// (its parameters require grad) it is saved too, as PEFT's modules_to_save; any other trainable
// non-LoRA parameter is a ConfigError (such a model must be saved merged, as a checkpoint).
void save_lora_adapter(const std::filesystem::path& folder, LlavaForConditionalGeneration& model, const LoraConfig& config,
                       const std::filesystem::path& base_checkpoint);
// Adds adapters to the layers named by adapter_model.safetensors (either transformers naming of
// LLaVA), with r / lora_alpha / lora_dropout from adapter_config.json, and loads their weights
// (and the projector's, if saved). Everything is checked before the model changes. Throws IoError
// (missing folder or file), FormatError naming the file (unsupported PEFT options, unknown layers,
// shapes that disagree with r) or ConfigError (a layer already has an adapter).
LoraConfig load_lora_adapter(const std::filesystem::path& folder, LlavaForConditionalGeneration& model);

bool is_lora_adapter(const std::filesystem::path& folder);

}  // namespace privprobe
