// LoRA adapters on LinearImpl layers, and PEFT's adapter folder layout:
//   adapter_config.json        {"peft_type": "LORA", "r", "lora_alpha", "lora_dropout", "target_modules", ...}
//   adapter_model.safetensors  "base_model.model.<module path>.lora_A.weight" [r, in] and ".lora_B.weight" [out, r]
//                              (PEFT drops the adapter name "default" when saving), plus the
//                              projector's weights as "base_model.model.multi_modal_projector.*"
//                              when it was trained too (PEFT's modules_to_save).
#include "train/lora.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "model/weights.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

constexpr const char* kAdapterConfigName = "adapter_config.json";
constexpr const char* kAdapterWeightsName = "adapter_model.safetensors";
constexpr const char* kPeftPrefix = "base_model.model.";
constexpr const char* kProjector = "multi_modal_projector";

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string last_component(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

bool in_scope(const std::string& path, const std::string& scope) {
  return scope.empty() || path == scope || starts_with(path, scope + ".");
}

bool is_lora_parameter(const std::string& name) { return ends_with(name, ".lora_A.weight") || ends_with(name, ".lora_B.weight"); }

// Linear layers with their module paths, in the model's order.
std::vector<std::pair<std::string, LinearImpl*>> linear_modules(LlavaForConditionalGeneration& model) {
  std::vector<std::pair<std::string, LinearImpl*>> out;
  for (const auto& item : model->named_modules("", /*include_self=*/false)) {
    if (auto* linear = item.value()->as<LinearImpl>()) out.emplace_back(item.key(), linear);
  }
  return out;
}

// A regular expression PEFT full-matches against module names: the targets under the scope, in
// both of transformers' LLaVA layouts ("language_model.model.layers..." and "model.language_model.layers...").
std::string peft_target_regex(const LoraConfig& config) {
  std::string alternatives, scope;
  for (const auto& t : config.targets) alternatives += (alternatives.empty() ? "" : "|") + t;
  for (char c : config.scope) scope += c == '.' ? std::string("\\.") : std::string(1, c);
  return "(.*\\.)?" + scope + "\\..*\\.(" + alternatives + ")";
}

Dtype file_dtype(torch::Dtype dtype, const std::string& where) {
  switch (dtype) {
    case torch::kFloat32: return Dtype::F32;
    case torch::kFloat16: return Dtype::F16;
    case torch::kBFloat16: return Dtype::BF16;
    default: throw ConfigError(error_message(where, "adapter weights must be float32, float16 or bfloat16"));
  }
}

// A json field that must be absent, null or equal to `expected` (a feature privprobe does not support).
void require_default(const json& config, const std::string& key, const json& expected, const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null() || *it == expected) return;
  if (expected.is_object() && it->is_object() && it->empty()) return;
  throw FormatError(error_message(where, "'" + key + "' is " + it->dump() + ", which privprobe does not support",
                                  "expected " + expected.dump()));
}

double require_number(const json& config, const std::string& key, const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || !it->is_number()) {
    throw FormatError(error_message(where, "field '" + key + "' is missing or not a number"));
  }
  return it->get<double>();
}

}  // namespace

void LoraConfig::validate() const {
  const std::string where = "LoRA config";
  if (rank < 0) throw ConfigError(error_message(where, "rank " + std::to_string(rank) + " is negative"));
  if (rank == 0) return;  // full fine-tuning: the rest is unused
  if (!(alpha > 0) || !std::isfinite(alpha)) throw ConfigError(error_message(where, "alpha must be a positive number"));
  if (!(dropout >= 0 && dropout < 1)) throw ConfigError(error_message(where, "dropout must be in [0, 1)"));
  if (targets.empty()) throw ConfigError(error_message(where, "no target modules", "e.g. --lora-targets q_proj,v_proj"));
  const auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (const auto& t : targets) {
    if (t.empty() || !std::all_of(t.begin(), t.end(), name_char)) {
      throw ConfigError(error_message(where, "target '" + t + "' is not a module name (letters, digits, '_')"));
    }
  }
  // A dotted path of names: "language_model", "language_model.model".
  for (std::size_t i = 0; i < scope.size(); ++i) {
    const bool dot_ok = scope[i] == '.' && i > 0 && i + 1 < scope.size() && scope[i - 1] != '.';
    if (!name_char(scope[i]) && !dot_ok) throw ConfigError(error_message(where, "scope '" + scope + "' is not a module path"));
  }
}

std::vector<std::string> apply_lora(LlavaForConditionalGeneration& model, const LoraConfig& config) {
  config.validate();
  if (config.rank == 0) throw ConfigError(error_message("LoRA config", "rank is 0, so there is no adapter to add"));
  // Matched and checked first, so a bad config leaves the model as it was.
  std::vector<std::pair<std::string, LinearImpl*>> chosen;
  std::set<std::string> matched;
  for (const auto& [path, linear] : linear_modules(model)) {
    const std::string name = last_component(path);
    const bool target = std::find(config.targets.begin(), config.targets.end(), name) != config.targets.end();
    if (!target || !in_scope(path, config.scope)) continue;
    if (linear->has_lora()) throw ConfigError(error_message(path, "already has a LoRA adapter"));
    chosen.emplace_back(path, linear);
    matched.insert(name);
  }
  for (const auto& t : config.targets) {
    if (!matched.count(t)) {
      throw ConfigError(error_message("LoRA config", "target '" + t + "' matches no linear layer under '" + config.scope + "'",
                                      "LLaMA's are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"));
    }
  }
  const LoraSettings settings{config.rank, config.alpha, config.dropout};
  std::vector<std::string> paths;
  for (auto& [path, linear] : chosen) {
    linear->add_lora(settings);
    paths.push_back(path);
  }
  return paths;
}

void freeze_all_but_lora(LlavaForConditionalGeneration& model, bool train_projector) {
  bool any = false;
  for (auto& item : model->named_parameters(/*recurse=*/true)) {
    const bool lora = is_lora_parameter(item.key());
    any |= lora;
    item.value().set_requires_grad(lora || (train_projector && starts_with(item.key(), std::string(kProjector) + ".")));
  }
  if (!any) throw ConfigError(error_message("LoRA", "the model has no adapters to train", "apply_lora first"));
}

void merge_lora(LlavaForConditionalGeneration& model) {
  for (auto& [path, linear] : linear_modules(model)) linear->merge_lora();
}

bool is_lora_adapter(const fs::path& folder) {
  std::error_code ec;
  return fs::is_regular_file(folder / kAdapterConfigName, ec) && fs::is_regular_file(folder / kAdapterWeightsName, ec);
}

void save_lora_adapter(const fs::path& folder, LlavaForConditionalGeneration& model, const LoraConfig& config,
                       const fs::path& base_checkpoint) {
  config.validate();
  const std::string where = folder.string();
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  bool projector = false;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    if (is_lora_parameter(name)) {
      tensors.emplace_back(kPeftPrefix + name, item.value());
    } else if (item.value().requires_grad()) {
      if (!starts_with(name, std::string(kProjector) + ".")) {
        throw ConfigError(error_message(where, "parameter '" + name + "' was trained but is not part of an adapter",
                                        "only LoRA layers and the projector fit in an adapter; save a merged checkpoint"));
      }
      projector = true;
    }
  }
  if (tensors.empty()) throw ConfigError(error_message(where, "the model has no LoRA adapters to save"));
  if (projector) {
    // The whole projector, as PEFT's modules_to_save stores it (adapter name stripped).
    for (const auto& item : model->multi_modal_projector->named_parameters(true)) {
      tensors.emplace_back(std::string(kPeftPrefix) + kProjector + "." + item.key(), item.value());
    }
  }

  std::vector<torch::Tensor> keep;  // contiguous CPU copies, alive until written
  std::vector<TensorToWrite> to_write;
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    keep.push_back(t);
    to_write.push_back({name, file_dtype(t.scalar_type(), where), std::vector<int64_t>(t.sizes().begin(), t.sizes().end()),
                        t.data_ptr(), static_cast<std::size_t>(t.numel()) * t.element_size()});
  }
  json adapter = {{"base_model_name_or_path", base_checkpoint.string()},
                  {"bias", "none"},
                  {"fan_in_fan_out", false},
                  {"inference_mode", true},
                  {"init_lora_weights", true},
                  {"layers_pattern", nullptr},
                  {"layers_to_transform", nullptr},
                  {"lora_alpha", config.alpha},
                  {"lora_dropout", config.dropout},
                  {"modules_to_save", projector ? json::array({kProjector}) : json(nullptr)},
                  {"peft_type", "LORA"},
                  {"r", config.rank},
                  {"revision", nullptr},
                  {"target_modules", config.scope.empty() ? json(config.targets) : json(peft_target_regex(config))},
                  {"task_type", "CAUSAL_LM"}};

  // Written into a temporary folder that then replaces the target, as checkpoints are.
  const fs::path temp = temp_path_for(folder);
  std::error_code ec;
  fs::remove_all(temp, ec);
  fs::create_directories(temp, ec);
  if (ec) throw IoError(error_message(temp.string(), "cannot create folder: " + ec.message()));
  try {
    write_safetensors(temp / kAdapterWeightsName, to_write, {{"format", "pt"}});
    write_json_atomic(temp / kAdapterConfigName, adapter);
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
  const fs::path old = temp_path_for(folder);
  if (fs::exists(folder, ec)) fs::rename(folder, old, ec);
  if (ec) throw IoError(error_message(where, "cannot replace adapter folder: " + ec.message()));
  fs::rename(temp, folder, ec);
  if (ec) throw IoError(error_message(where, "cannot move adapter folder into place: " + ec.message()));
  fs::remove_all(old, ec);
}

LoraConfig load_lora_adapter(const fs::path& folder, LlavaForConditionalGeneration& model) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw IoError(error_message(folder.string(), "is not an adapter folder (no such folder)"));
  const fs::path config_path = folder / kAdapterConfigName;
  const fs::path weights_path = folder / kAdapterWeightsName;
  if (!fs::is_regular_file(config_path, ec)) {
    throw IoError(error_message(folder.string(), std::string("is not a LoRA adapter: ") + kAdapterConfigName + " is missing"));
  }
  if (!fs::is_regular_file(weights_path, ec)) {
    const bool bin = fs::exists(folder / "adapter_model.bin", ec);
    throw IoError(error_message(folder.string(), std::string("is not a LoRA adapter: ") + kAdapterWeightsName + " is missing",
                                bin ? "adapter_model.bin (pickle) is not read; resave it with safe_serialization=True" : ""));
  }

  // adapter_config.json
  const std::string where = config_path.string();
  const json adapter = read_json(config_path);
  if (!adapter.is_object()) throw FormatError(error_message(where, "is not a JSON object"));
  const auto type = adapter.find("peft_type");
  if (type == adapter.end() || !type->is_string() || type->get<std::string>() != "LORA") {
    throw FormatError(error_message(where, "'peft_type' is not \"LORA\"", "only LoRA adapters are supported"));
  }
  LoraConfig config;
  const double r = require_number(adapter, "r", where);
  if (r != std::floor(r) || r < 1 || r > 65536) throw FormatError(error_message(where, "'r' is not a positive integer"));
  config.rank = static_cast<int>(r);
  config.alpha = require_number(adapter, "lora_alpha", where);
  config.dropout = adapter.contains("lora_dropout") ? require_number(adapter, "lora_dropout", where) : 0.0;
  if (!(config.alpha > 0) || !(config.dropout >= 0 && config.dropout < 1)) {
    throw FormatError(error_message(where, "'lora_alpha' must be positive and 'lora_dropout' in [0, 1)"));
  }
  require_default(adapter, "bias", "none", where);
  require_default(adapter, "fan_in_fan_out", false, where);
  require_default(adapter, "use_dora", false, where);
  require_default(adapter, "rank_pattern", json::object(), where);
  require_default(adapter, "alpha_pattern", json::object(), where);
  // rsLoRA scales by alpha / sqrt(r); LinearImpl by alpha / r, so alpha is rescaled to match.
  if (adapter.value("use_rslora", json(false)) == json(true)) config.alpha *= std::sqrt(static_cast<double>(config.rank));
  bool projector_allowed = false;
  if (const auto m = adapter.find("modules_to_save"); m != adapter.end() && !m->is_null()) {
    if (!m->is_array()) throw FormatError(error_message(where, "'modules_to_save' is not a list"));
    for (const auto& name : *m) {
      if (name != json(kProjector)) {
        throw FormatError(error_message(where, "'modules_to_save' lists " + name.dump() + "; privprobe only supports \"" +
                                                   kProjector + "\""));
      }
      projector_allowed = true;
    }
  }

  // adapter_model.safetensors: pair up lora_A / lora_B per module.
  const SafetensorsFile file(weights_path);
  const std::string wfile = weights_path.string();
  struct Pair {
    const TensorInfo* a = nullptr;
    const TensorInfo* b = nullptr;
  };
  std::map<std::string, Pair> pairs;  // module path (privprobe's layout) -> tensors
  std::vector<const TensorInfo*> projector_tensors;
  for (const auto& info : file.tensors()) {
    if (!starts_with(info.name, kPeftPrefix)) {
      throw FormatError(error_message(wfile, "tensor '" + info.name + "' does not start with '" + kPeftPrefix + "'",
                                      "not a PEFT adapter for this model"));
    }
    const std::string name = canonical_weight_name(info.name.substr(std::string(kPeftPrefix).size()));
    if (is_lora_parameter(name)) {
      const std::string path = name.substr(0, name.size() - std::string(".lora_A.weight").size());
      (ends_with(name, ".lora_A.weight") ? pairs[path].a : pairs[path].b) = &info;
    } else if (projector_allowed && starts_with(name, std::string(kProjector) + ".")) {
      projector_tensors.push_back(&info);
    } else {
      throw FormatError(error_message(wfile, "tensor '" + info.name + "' is neither a lora_A/lora_B weight nor a saved module"));
    }
  }
  if (pairs.empty()) throw FormatError(error_message(wfile, "holds no LoRA weights"));

  // Everything is checked before the model changes, so a bad adapter leaves it as it was.
  const auto linears = linear_modules(model);
  const std::map<std::string, LinearImpl*> modules(linears.begin(), linears.end());
  std::vector<std::pair<LinearImpl*, Pair>> to_load;
  std::set<std::string> targets;
  bool all_language = true;
  for (const auto& [path, pair] : pairs) {
    const auto* present = pair.a ? pair.a : pair.b;
    if (!pair.a || !pair.b) {
      throw FormatError(error_message(wfile, "tensor '" + present->name + "' has no " + (pair.a ? "lora_B" : "lora_A") + " partner"));
    }
    const auto it = modules.find(path);
    if (it == modules.end()) {
      throw FormatError(error_message(wfile, "tensor '" + present->name + "' names no linear layer of the model",
                                      "the adapter was trained on another architecture"));
    }
    LinearImpl* linear = it->second;
    if (linear->has_lora()) throw ConfigError(error_message(path, "already has a LoRA adapter"));
    const std::vector<int64_t> want_a = {config.rank, linear->in_features};
    const std::vector<int64_t> want_b = {linear->out_features, config.rank};
    for (const auto& [info, want] : {std::pair{pair.a, want_a}, std::pair{pair.b, want_b}}) {
      if (info->shape != want) {
        throw FormatError(error_message(wfile, "tensor '" + info->name + "' has shape " + format_shape(info->shape) + " but r = " +
                                                   std::to_string(config.rank) + " and the layer imply " + format_shape(want)));
      }
    }
    to_load.emplace_back(linear, pair);
    targets.insert(last_component(path));
    all_language &= starts_with(path, "language_model.");
  }
  auto projector_params = model->multi_modal_projector->named_parameters(true);
  std::vector<std::pair<torch::Tensor, const TensorInfo*>> projector_load;
  if (!projector_tensors.empty()) {
    for (const auto* info : projector_tensors) {
      const std::string name = canonical_weight_name(info->name.substr(std::string(kPeftPrefix).size()));
      auto* param = projector_params.find(name.substr(std::string(kProjector).size() + 1));
      if (!param) throw FormatError(error_message(wfile, "tensor '" + info->name + "' names no projector parameter"));
      const std::vector<int64_t> shape(param->sizes().begin(), param->sizes().end());
      if (info->shape != shape) {
        throw FormatError(error_message(wfile, "tensor '" + info->name + "' has shape " + format_shape(info->shape) +
                                                   " but the projector's is " + format_shape(shape)));
      }
      projector_load.emplace_back(*param, info);
    }
    if (projector_load.size() != projector_params.size()) {
      throw FormatError(error_message(wfile, "holds " + std::to_string(projector_load.size()) + " of the projector's " +
                                                 std::to_string(projector_params.size()) + " parameters"));
    }
  }

  torch::NoGradGuard no_grad;
  for (auto& [linear, pair] : to_load) {
    linear->add_lora({config.rank, config.alpha, config.dropout});
    linear->lora_A->weight.copy_(tensor_from_safetensors({&file, pair.a}, linear->weight.scalar_type()));
    linear->lora_B->weight.copy_(tensor_from_safetensors({&file, pair.b}, linear->weight.scalar_type()));
  }
  for (auto& [param, info] : projector_load) param.copy_(tensor_from_safetensors({&file, info}, param.scalar_type()));
  config.targets.assign(targets.begin(), targets.end());
  config.scope = all_language ? "language_model" : "";
  return config;
}

}  // namespace privprobe
