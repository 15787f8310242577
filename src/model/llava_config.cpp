#include "model/llava_config.h"

#include "util/error.h"
#include "util/json_io.h"

using nlohmann::json;

namespace privprobe {
namespace {

template <typename T>
void read_opt(const json& j, const char* key, T& out, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    throw ConfigError(error_message(where, std::string("field '") + key + "' has the wrong type (" + it->type_name() + ")"));
  }
}

VisionConfig vision_from_json(const json& j, const std::string& where) {
  VisionConfig v;
  if (j.contains("model_type") && j["model_type"].is_string() && j["model_type"] != "clip_vision_model") {
    throw ConfigError(error_message(where, "vision_config.model_type '" + j["model_type"].get<std::string>() +
                                               "' is not supported (only clip_vision_model)"));
  }
  read_opt(j, "hidden_size", v.hidden_size, where);
  read_opt(j, "intermediate_size", v.intermediate_size, where);
  read_opt(j, "num_hidden_layers", v.num_hidden_layers, where);
  read_opt(j, "num_attention_heads", v.num_attention_heads, where);
  read_opt(j, "num_channels", v.num_channels, where);
  read_opt(j, "image_size", v.image_size, where);
  read_opt(j, "patch_size", v.patch_size, where);
  read_opt(j, "hidden_act", v.hidden_act, where);
  read_opt(j, "layer_norm_eps", v.layer_norm_eps, where);
  if (v.hidden_act != "quick_gelu" && v.hidden_act != "gelu") {
    throw ConfigError(error_message(where, "vision_config.hidden_act '" + v.hidden_act + "' is not supported (quick_gelu, gelu)"));
  }
  return v;
}

TextConfig text_from_json(const json& j, const std::string& where) {
  TextConfig t;
  if (j.contains("model_type") && j["model_type"].is_string() && j["model_type"] != "llama") {
    throw ConfigError(error_message(where, "text_config.model_type '" + j["model_type"].get<std::string>() +
                                               "' is not supported (only llama)"));
  }
  read_opt(j, "vocab_size", t.vocab_size, where);
  read_opt(j, "hidden_size", t.hidden_size, where);
  read_opt(j, "intermediate_size", t.intermediate_size, where);
  read_opt(j, "num_hidden_layers", t.num_hidden_layers, where);
  read_opt(j, "num_attention_heads", t.num_attention_heads, where);
  t.num_key_value_heads = t.num_attention_heads;
  read_opt(j, "num_key_value_heads", t.num_key_value_heads, where);
  t.head_dim = t.num_attention_heads > 0 ? t.hidden_size / t.num_attention_heads : 0;
  read_opt(j, "head_dim", t.head_dim, where);
  read_opt(j, "hidden_act", t.hidden_act, where);
  read_opt(j, "max_position_embeddings", t.max_position_embeddings, where);
  read_opt(j, "rms_norm_eps", t.rms_norm_eps, where);
  read_opt(j, "rope_theta", t.rope_theta, where);
  read_opt(j, "tie_word_embeddings", t.tie_word_embeddings, where);
  read_opt(j, "attention_bias", t.attention_bias, where);
  read_opt(j, "mlp_bias", t.mlp_bias, where);
  read_opt(j, "bos_token_id", t.bos_token_id, where);
  read_opt(j, "eos_token_id", t.eos_token_id, where);
  read_opt(j, "pad_token_id", t.pad_token_id, where);
  if (t.hidden_act != "silu") {
    throw ConfigError(error_message(where, "text_config.hidden_act '" + t.hidden_act + "' is not supported (silu)"));
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    throw ConfigError(error_message(where, "text_config.rope_scaling is not supported"));
  }
  return t;
}

}  // namespace

int LlavaConfig::image_tokens() const {
  return vision.num_patches() + (vision_feature_select_strategy == "full" ? 1 : 0);
}

void LlavaConfig::validate(const std::string& where) const {
  auto fail = [&](const std::string& what) { throw ConfigError(error_message(where, what)); };
  if (vision.hidden_size <= 0 || vision.num_attention_heads <= 0 || vision.hidden_size % vision.num_attention_heads)
    fail("vision_config.hidden_size must be a positive multiple of num_attention_heads");
  if (vision.patch_size <= 0 || vision.image_size <= 0 || vision.image_size % vision.patch_size)
    fail("vision_config.image_size must be a positive multiple of patch_size");
  if (vision.num_hidden_layers <= 0) fail("vision_config.num_hidden_layers must be positive");
  if (vision.conv_stem.size() > 4) fail("privprobe.vision_conv_stem has more than 4 convolutions");
  for (int channels : vision.conv_stem) {
    if (channels <= 0 || channels > 4096) fail("privprobe.vision_conv_stem: channel counts must be within 1..4096");
  }
  if (vision.patch_size % (1 << vision.conv_stem.size()) != 0)
    fail("privprobe.vision_conv_stem: " + std::to_string(vision.conv_stem.size()) +
         " stride-2 convolutions need patch_size divisible by " + std::to_string(1 << vision.conv_stem.size()));
  if (text.hidden_size <= 0 || text.num_attention_heads <= 0 || text.head_dim <= 0 || text.head_dim % 2)
    fail("text_config: hidden_size, num_attention_heads must be positive and head_dim even");
  if (text.num_key_value_heads <= 0 || text.num_attention_heads % text.num_key_value_heads)
    fail("text_config.num_attention_heads must be a multiple of num_key_value_heads");
  if (text.num_hidden_layers <= 0) fail("text_config.num_hidden_layers must be positive");
  if (text.vocab_size <= 0) fail("text_config.vocab_size must be positive");
  const int n_states = vision.num_hidden_layers + 1;
  if (vision_feature_layer >= n_states || vision_feature_layer < -n_states)
    fail("vision_feature_layer " + std::to_string(vision_feature_layer) + " is outside the vision tower's " +
         std::to_string(n_states) + " hidden states");
  if (vision_feature_select_strategy != "default" && vision_feature_select_strategy != "full")
    fail("vision_feature_select_strategy must be 'default' or 'full'");
  if (projector_hidden_act != "gelu") fail("projector_hidden_act '" + projector_hidden_act + "' is not supported (gelu)");
  if (image_token_index < 0) fail("image_token_index must be set");
}

LlavaConfig llava_config_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw ConfigError(error_message(where, "config is not a JSON object"));
  const std::string model_type = j.value("model_type", std::string("llava"));
  if (model_type != "llava") {
    throw ConfigError(error_message(where, "model_type '" + model_type + "' is not supported (only llava)",
                                    "privprobe loads LlavaForConditionalGeneration checkpoints"));
  }
  LlavaConfig c;
  if (j.contains("vision_config")) c.vision = vision_from_json(j["vision_config"], where);
  if (j.contains("text_config")) c.text = text_from_json(j["text_config"], where);
  read_opt(j, "image_token_index", c.image_token_index, where);
  read_opt(j, "image_token_id", c.image_token_index, where);  // newer transformers name
  read_opt(j, "vision_feature_layer", c.vision_feature_layer, where);
  read_opt(j, "vision_feature_select_strategy", c.vision_feature_select_strategy, where);
  read_opt(j, "projector_hidden_act", c.projector_hidden_act, where);
  read_opt(j, "multimodal_projector_bias", c.multimodal_projector_bias, where);
  read_opt(j, "pad_token_id", c.pad_token_id, where);
  if (c.pad_token_id < 0) c.pad_token_id = c.text.pad_token_id;
  if (j.contains("tie_word_embeddings")) {
    read_opt(j, "tie_word_embeddings", c.tie_word_embeddings, where);
    c.text.tie_word_embeddings = c.tie_word_embeddings;
  } else {
    c.tie_word_embeddings = c.text.tie_word_embeddings;
  }
  if (j.contains("vocab_size") && !j.contains("text_config")) read_opt(j, "vocab_size", c.text.vocab_size, where);
  if (j.contains("privprobe") && j["privprobe"].is_object()) {
    read_opt(j["privprobe"], "template", c.template_name, where);
    read_opt(j["privprobe"], "vision_conv_stem", c.vision.conv_stem, where);
  }
  c.validate(where);
  return c;
}

json llava_config_to_json(const LlavaConfig& c) {
  json vision = {{"model_type", "clip_vision_model"},
                 {"hidden_size", c.vision.hidden_size},
                 {"intermediate_size", c.vision.intermediate_size},
                 {"num_hidden_layers", c.vision.num_hidden_layers},
                 {"num_attention_heads", c.vision.num_attention_heads},
                 {"num_channels", c.vision.num_channels},
                 {"image_size", c.vision.image_size},
                 {"patch_size", c.vision.patch_size},
                 {"hidden_act", c.vision.hidden_act},
                 {"layer_norm_eps", c.vision.layer_norm_eps},
                 {"projection_dim", c.vision.hidden_size}};
  json text = {{"model_type", "llama"},
               {"vocab_size", c.text.vocab_size},
               {"hidden_size", c.text.hidden_size},
               {"intermediate_size", c.text.intermediate_size},
               {"num_hidden_layers", c.text.num_hidden_layers},
               {"num_attention_heads", c.text.num_attention_heads},
               {"num_key_value_heads", c.text.num_key_value_heads},
               {"head_dim", c.text.head_dim},
               {"hidden_act", c.text.hidden_act},
               {"max_position_embeddings", c.text.max_position_embeddings},
               {"rms_norm_eps", c.text.rms_norm_eps},
               {"rope_theta", c.text.rope_theta},
               {"tie_word_embeddings", c.text.tie_word_embeddings},
               {"attention_bias", c.text.attention_bias},
               {"mlp_bias", c.text.mlp_bias},
               {"bos_token_id", c.text.bos_token_id},
               {"eos_token_id", c.text.eos_token_id}};
  if (c.text.pad_token_id >= 0) text["pad_token_id"] = c.text.pad_token_id;
  json j = {{"architectures", json::array({"LlavaForConditionalGeneration"})},
            {"model_type", "llava"},
            {"vision_config", vision},
            {"text_config", text},
            {"image_token_index", c.image_token_index},
            {"vision_feature_layer", c.vision_feature_layer},
            {"vision_feature_select_strategy", c.vision_feature_select_strategy},
            {"projector_hidden_act", c.projector_hidden_act},
            {"multimodal_projector_bias", c.multimodal_projector_bias},
            {"ignore_index", -100},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"torch_dtype", "float32"},
            {"privprobe", {{"template", c.template_name}}}};
  if (!c.vision.conv_stem.empty()) j["privprobe"]["vision_conv_stem"] = c.vision.conv_stem;
  if (c.pad_token_id >= 0) j["pad_token_id"] = c.pad_token_id;
  return j;
}

LlavaConfig load_llava_config(const std::filesystem::path& path) {
  return llava_config_from_json(read_json(path), path.string());
}

LlavaConfig tiny_llava_config() {
  LlavaConfig c;
  c.vision.hidden_size = 128;
  c.vision.intermediate_size = 384;
  c.vision.num_hidden_layers = 4;
  c.vision.num_attention_heads = 4;
  c.vision.image_size = 128;
  c.vision.patch_size = 16;
  c.vision.hidden_act = "quick_gelu";
  c.vision_feature_layer = -1;  // a 4-layer tower cannot spare its last layer
  c.text.vocab_size = 512;
  c.text.hidden_size = 128;
  c.text.intermediate_size = 384;
  c.text.num_hidden_layers = 4;
  c.text.num_attention_heads = 4;
  c.text.num_key_value_heads = 4;
  c.text.head_dim = 32;
  c.text.max_position_embeddings = 512;
  c.text.rms_norm_eps = 1e-6;
  c.text.bos_token_id = 1;
  c.text.eos_token_id = 2;
  c.text.pad_token_id = 3;
  c.pad_token_id = 3;
  c.image_token_index = 4;
  c.template_name = "tiny";
  return c;
}

LlavaConfig bench_llava_config() {
  LlavaConfig c = tiny_llava_config();
  c.vision.hidden_size = 192;
  c.vision.intermediate_size = 768;
  c.vision.num_attention_heads = 3;
  c.vision.image_size = 96;
  c.vision.patch_size = 8;
  c.vision.hidden_act = "gelu";
  c.text.hidden_size = 192;
  c.text.intermediate_size = 512;
  c.text.num_attention_heads = 3;
  c.text.num_key_value_heads = 3;
  c.text.head_dim = 64;
  return c;
}

LlavaConfig tiny_reading_llava_config() {
  LlavaConfig c = tiny_llava_config();
  c.vision.conv_stem = {32, 64};  // 128 px -> 64 -> 32 channels 64, then 4x4 patches: the same 8x8 grid
  return c;
}

bool is_builtin_llava_config(const std::string& name) {
  return name == "tiny" || name == "tiny-reading" || name == "bench";
}

LlavaConfig resolve_llava_config(const std::string& name_or_path) {
  if (name_or_path == "tiny") return tiny_llava_config();
  if (name_or_path == "tiny-reading") return tiny_reading_llava_config();
  if (name_or_path == "bench") return bench_llava_config();
  return load_llava_config(name_or_path);
}

}  // namespace privprobe
