// Model configuration, read from and written to Hugging Face's config.json (LlavaConfig with a
// CLIPVisionConfig and a LlamaConfig inside). Fields missing from a file take Hugging Face's class
// defaults, so published checkpoints load as they are.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace privprobe {

struct VisionConfig {  // CLIPVisionConfig
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int num_channels = 3;
  int image_size = 224;
  int patch_size = 32;
  std::string hidden_act = "quick_gelu";  // "quick_gelu" | "gelu"
  double layer_norm_eps = 1e-5;
  // privprobe extension (config.json "privprobe": {"vision_conv_stem": [...]}), empty for CLIP: 3x3
  // stride-2 convolutions with these output channels, each followed by GELU, before a patch
  // embedding of patch_size / 2^k. Early convolutions help a small tower from scratch resolve
  // strokes finer than a patch (the `tiny-reading` config); Hugging Face's CLIP has no such layer.
  std::vector<int> conv_stem;

  int num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
  int head_dim() const { return hidden_size / num_attention_heads; }
};

struct TextConfig {  // LlamaConfig
  int vocab_size = 32000;
  int hidden_size = 4096;
  int intermediate_size = 11008;
  int num_hidden_layers = 32;
  int num_attention_heads = 32;
  int num_key_value_heads = 32;  // defaults to num_attention_heads when absent
  int head_dim = 128;            // defaults to hidden_size / num_attention_heads when absent
  std::string hidden_act = "silu";
  int max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  int bos_token_id = 1;
  int eos_token_id = 2;
  int pad_token_id = -1;  // -1: none
};

struct LlavaConfig {
  VisionConfig vision;
  TextConfig text;
  int image_token_index = 32000;
  int vision_feature_layer = -2;                       // index into the vision hidden states
  std::string vision_feature_select_strategy = "default";  // "default" drops CLS, "full" keeps it
  std::string projector_hidden_act = "gelu";
  bool multimodal_projector_bias = true;
  int pad_token_id = -1;
  bool tie_word_embeddings = false;  // top-level copy of text.tie_word_embeddings (HF writes both)
  std::string template_name = "vicuna_v1";  // privprobe extension: conversation template

  // Image tokens one <image> expands to.
  int image_tokens() const;
  // Throws ConfigError naming `where` for impossible combinations (heads not dividing width...).
  void validate(const std::string& where) const;
};

// The built-in tiny config for the embedded default (documented in docs/model.md).
LlavaConfig tiny_llava_config();
// The benchmark shapes of ../shared/bench/ref_tinyllava_train.py.
LlavaConfig bench_llava_config();
// tiny with a convolutional stem (conv_stem {32, 64}): the reading preset's base.
LlavaConfig tiny_reading_llava_config();
// Whether `name` is a built-in config (tiny, tiny-reading, bench) rather than a path.
bool is_builtin_llava_config(const std::string& name);

// Parses a Hugging Face config.json object (model_type "llava"). `where` names the file in errors.
// Another model_type -> ConfigError naming the field.
LlavaConfig llava_config_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json llava_config_to_json(const LlavaConfig& config);

LlavaConfig load_llava_config(const std::filesystem::path& path);
// `tiny`, `tiny-reading`, `bench`, or a path to a config.json.
LlavaConfig resolve_llava_config(const std::string& name_or_path);

}  // namespace privprobe
