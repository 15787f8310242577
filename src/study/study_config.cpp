#include "study/study_config.h"

#include <cstdio>
#include <functional>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "model/llava_config.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

template <typename T>
using Check = std::function<std::string(const T&)>;

// Every key of the config, once: the reader, the writers and the key list all walk this.
// v(section, key, field, check): check returns an error message for a bad value, or "".
template <typename Config, typename Visitor>
void visit_fields(Config& c, Visitor&& v) {
  using Int = std::int64_t;
  const Check<Int> any_int;
  const Check<Int> nonnegative = [](const Int& x) { return x < 0 ? "must not be negative" : ""; };
  const Check<Int> positive = [](const Int& x) { return x < 1 ? "must be at least 1" : ""; };
  const Check<int> nonnegative_int = [](const int& x) { return x < 0 ? "must not be negative" : ""; };
  const Check<int> positive_int = [](const int& x) { return x < 1 ? "must be at least 1" : ""; };
  const Check<double> unit = [](const double& x) {
    return x >= 0 && x <= 1 ? "" : "must lie in [0, 1]";
  };
  const Check<double> positive_real = [](const double& x) { return x > 0 ? "" : "must be greater than 0"; };
  const Check<double> nonnegative_real = [](const double& x) { return x >= 0 ? "" : "must not be negative"; };
  const Check<std::string> any_string;
  const auto one_of = [](std::vector<std::string> allowed) {
    return Check<std::string>([allowed](const std::string& s) {
      for (const auto& a : allowed) {
        if (s == a) return std::string();
      }
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return "must be one of " + list + " (got '" + s + "')";
    });
  };
  const Check<std::vector<std::uint64_t>> seeds = [](const std::vector<std::uint64_t>& s) {
    if (s.empty()) return std::string("needs at least one seed");
    if (std::set<std::uint64_t>(s.begin(), s.end()).size() != s.size()) return std::string("lists a seed twice");
    return std::string();
  };
  const Check<std::vector<double>> rates = [](const std::vector<double>& r) {
    if (r.empty()) return std::string("needs at least one rate");
    std::set<std::string> names;
    for (double x : r) {
      if (!(x >= 0 && x <= 1)) return "each rate must lie in [0, 1] (got " + rate_arm_name(x).substr(1) + ")";
      if (!names.insert(rate_arm_name(x)).second) return "lists the rate " + rate_arm_name(x).substr(1) + " twice";
    }
    return std::string();
  };
  const Check<std::vector<std::string>> any_list;

  v("study", "seed", c.study.seed, Check<std::uint64_t>());
  v("study", "seeds", c.study.seeds, seeds);
  v("study", "rates", c.study.rates, rates);
  v("study", "style", c.study.style, one_of({"identicon", "text", "both"}));
  v("study", "out", c.study.out, Check<std::string>([](const std::string& s) { return s.empty() ? "must not be empty" : ""; }));
  v("study", "threads", c.study.threads, nonnegative_int);
  v("study", "device", c.study.device, Check<std::string>([](const std::string& s) {
      const bool ok = s == "cpu" || s == "cuda" || (s.rfind("cuda:", 0) == 0 && s.size() > 5 &&
                                                    s.find_first_not_of("0123456789", 5) == std::string::npos);
      return ok ? "" : "must be cpu, cuda or cuda:N (got '" + s + "')";
    }));
  v("study", "dtype", c.study.dtype, one_of({"f32", "bf16"}));  // the study trains: f16 would need loss scaling

  v("album", "pretrain", c.album.pretrain, nonnegative);
  v("album", "finetune", c.album.finetune, positive);
  v("album", "heldout", c.album.heldout, positive);
  v("album", "size", c.album.size, Check<int>([](const int& x) { return x < 32 || x > 2048 ? "must lie in [32, 2048]" : ""; }));
  v("album", "format", c.album.format, one_of({"png", "jpg"}));

  v("profiles", "count", c.profiles.count,
    Check<Int>([](const Int& x) { return x < 2 || x > 5000 ? "must lie in [2, 5000]" : ""; }));
  v("profiles", "u1", c.profiles.u1, any_string);
  v("profiles", "u2", c.profiles.u2, any_string);

  v("watermark", "opacity", c.watermark.opacity,
    Check<double>([](const double& x) { return x > 0 && x <= 1 ? "" : "must lie in (0, 1]"; }));
  v("watermark", "fields", c.watermark.fields, Check<std::vector<std::string>>([](const std::vector<std::string>& f) {
      return f.empty() ? "needs at least one field" : "";
    }));
  v("watermark", "field_names", c.watermark.field_names, Check<bool>());
  v("watermark", "font_size", c.watermark.font_size, nonnegative_int);
  v("watermark", "identicon_cell", c.watermark.identicon_cell, nonnegative_int);
  v("watermark", "placement", c.watermark.placement, one_of({"random", "top-left", "center"}));

  v("model", "config", c.model.config, any_string);
  v("model", "checkpoint", c.model.checkpoint, any_string);

  v("data", "llava_json", c.data.llava_json, any_string);
  v("data", "image_root", c.data.image_root, any_string);
  v("data", "heldout_json", c.data.heldout_json, any_string);
  v("data", "pretrain_json", c.data.pretrain_json, any_string);

  v("pretrain", "steps", c.pretrain.steps, positive);
  v("pretrain", "batch_size", c.pretrain.batch_size, positive_int);
  v("pretrain", "lr", c.pretrain.lr, positive_real);
  v("pretrain", "aux_weight", c.pretrain.aux_weight, nonnegative_real);
  v("pretrain", "perception_rate", c.pretrain.perception_rate, unit);
  v("pretrain", "perception_share", c.pretrain.perception_share, unit);
  v("pretrain", "identicon_labels", c.pretrain.identicon_labels, Check<bool>());
  v("pretrain", "character_labels", c.pretrain.character_labels, Check<bool>());
  v("pretrain", "save_every", c.pretrain.save_every, nonnegative);

  v("finetune", "steps", c.finetune.steps, positive);
  v("finetune", "batch_size", c.finetune.batch_size, positive_int);
  v("finetune", "lr", c.finetune.lr, positive_real);
  v("finetune", "dynamics_every", c.finetune.dynamics_every, nonnegative);
  v("finetune", "freeze", c.finetune.freeze, Check<std::vector<std::string>>([](const std::vector<std::string>& parts) {
      for (const auto& p : parts) {
        if (p != "vision_tower" && p != "multi_modal_projector" && p != "projector" && p != "language_model") {
          return "unknown part '" + p + "' (vision_tower, multi_modal_projector, language_model)";
        }
      }
      return std::string();
    }));
  v("finetune", "save_every", c.finetune.save_every, nonnegative);
  v("finetune", "lora_rank", c.finetune.lora_rank, nonnegative_int);
  v("finetune", "lora_alpha", c.finetune.lora_alpha, positive_real);
  v("finetune", "lora_dropout", c.finetune.lora_dropout,
    Check<double>([](const double& x) { return x >= 0 && x < 1 ? "" : "must lie in [0, 1)"; }));
  v("finetune", "projector_lr", c.finetune.projector_lr, nonnegative_real);
  v("finetune", "warmup_ratio", c.finetune.warmup_ratio, unit);
  v("finetune", "grad_accum", c.finetune.grad_accum, positive_int);
  v("finetune", "gradient_checkpointing", c.finetune.gradient_checkpointing, Check<bool>());

  v("arms", "control", c.arms.control, Check<bool>());
  v("arms", "control_share", c.arms.control_share,
    Check<double>([](const double& x) { return x > 0 && x <= 1 ? "" : "must lie in (0, 1]"; }));
  v("arms", "control_rate", c.arms.control_rate,
    Check<double>([](const double& x) { return x > 0 && x <= 1 ? "" : "must lie in (0, 1]"; }));
  v("arms", "control_seeds", c.arms.control_seeds, positive_int);
  v("arms", "extra_rate", c.arms.extra_rate, unit);
  v("arms", "augment", c.arms.augment, Check<bool>());
  v("arms", "wm_per_batch", c.arms.wm_per_batch, nonnegative_int);
  v("arms", "lora_rank", c.arms.lora_rank, nonnegative_int);

  v("probe", "images", c.probe.images, nonnegative);
  v("probe", "question", c.probe.question,
    Check<std::string>([](const std::string& s) { return s.empty() ? "must not be empty" : ""; }));
  v("probe", "position", c.probe.position, Check<std::string>([](const std::string& s) {
      const bool ok = s == "last" || s == "image-mean" || s == "all-mean" || s.rfind("index:", 0) == 0;
      return ok ? "" : "must be last, image-mean, all-mean or index:K (got '" + s + "')";
    }));
  v("probe", "folds", c.probe.folds, Check<int>([](const int& x) { return x < 2 ? "must be at least 2" : ""; }));
  v("probe", "repeats", c.probe.repeats, positive_int);
  v("probe", "C", c.probe.C, positive_real);
  v("probe", "bootstrap", c.probe.bootstrap, positive_int);
  v("probe", "permutations", c.probe.permutations, positive_int);

  v("ask", "max_new_tokens", c.ask.max_new_tokens, positive_int);
  v("ask", "batch_size", c.ask.batch_size, positive_int);

  v("eval", "count", c.eval.count, nonnegative);
  v("eval", "max_new_tokens", c.eval.max_new_tokens, positive_int);
  v("eval", "batch_size", c.eval.batch_size, positive_int);
  (void)any_int;
  (void)any_list;
}

// Keys whose values are paths into the user's files: relative ones are taken from the file's folder
// (model.config only when it names a file, not a built-in config).
bool is_path_key(const std::string& section, const std::string& key, const std::string& value) {
  if (section == "model" && key == "config") return !is_builtin_llava_config(value);
  return (section == "profiles" && (key == "u1" || key == "u2")) || (section == "model" && key == "checkpoint") ||
         section == "data";
}

std::string key_where(const std::string& name, const std::string& section, const std::string& key) {
  return name + ": key '" + section + "." + key + "'";
}

// --- reading one value ---

const char* type_name(const std::int64_t*) { return "an integer"; }
const char* type_name(const int*) { return "an integer"; }
const char* type_name(const std::uint64_t*) { return "a non-negative integer"; }
const char* type_name(const double*) { return "a number"; }
const char* type_name(const bool*) { return "true or false"; }
const char* type_name(const std::string*) { return "a string"; }
const char* type_name(const std::vector<double>*) { return "a list of numbers"; }
const char* type_name(const std::vector<std::uint64_t>*) { return "a list of non-negative integers"; }
const char* type_name(const std::vector<std::string>*) { return "a list of strings"; }

bool convert(const toml::node& n, std::int64_t& out) {
  if (!n.is_integer()) return false;
  out = n.as_integer()->get();
  return true;
}
bool convert(const toml::node& n, int& out) {
  std::int64_t v = 0;
  if (!convert(n, v) || v < -2147483647 || v > 2147483647) return false;
  out = static_cast<int>(v);
  return true;
}
bool convert(const toml::node& n, std::uint64_t& out) {
  std::int64_t v = 0;
  if (!convert(n, v) || v < 0) return false;
  out = static_cast<std::uint64_t>(v);
  return true;
}
bool convert(const toml::node& n, double& out) {
  if (n.is_floating_point()) {
    out = n.as_floating_point()->get();
    return true;
  }
  if (n.is_integer()) {
    out = static_cast<double>(n.as_integer()->get());
    return true;
  }
  return false;
}
bool convert(const toml::node& n, bool& out) {
  if (!n.is_boolean()) return false;
  out = n.as_boolean()->get();
  return true;
}
bool convert(const toml::node& n, std::string& out) {
  if (!n.is_string()) return false;
  out = n.as_string()->get();
  return true;
}
template <typename T>
bool convert(const toml::node& n, std::vector<T>& out) {
  if (!n.is_array()) return false;
  std::vector<T> values;
  for (const toml::node& element : *n.as_array()) {
    T value{};
    if (!convert(element, value)) return false;
    values.push_back(value);
  }
  out = std::move(values);
  return true;
}

// --- writing one value ---

toml::array to_toml_array(const std::vector<double>& v) {
  toml::array a;
  for (double x : v) a.push_back(x);
  return a;
}
toml::array to_toml_array(const std::vector<std::uint64_t>& v) {
  toml::array a;
  for (auto x : v) a.push_back(static_cast<std::int64_t>(x));
  return a;
}
toml::array to_toml_array(const std::vector<std::string>& v) {
  toml::array a;
  for (const auto& x : v) a.push_back(x);
  return a;
}
template <typename T>
void insert_toml(toml::table& t, const std::string& key, const T& value) {
  if constexpr (std::is_same_v<T, std::uint64_t>) {
    t.insert_or_assign(key, static_cast<std::int64_t>(value));
  } else if constexpr (std::is_same_v<T, int>) {
    t.insert_or_assign(key, static_cast<std::int64_t>(value));
  } else if constexpr (std::is_same_v<T, std::vector<double>> || std::is_same_v<T, std::vector<std::uint64_t>> ||
                       std::is_same_v<T, std::vector<std::string>>) {
    t.insert_or_assign(key, to_toml_array(value));
  } else {
    t.insert_or_assign(key, value);
  }
}

std::set<std::pair<std::string, std::string>> known_keys() {
  std::set<std::pair<std::string, std::string>> keys;
  StudyConfig c;
  visit_fields(c, [&](const char* section, const char* key, auto&, const auto&) { keys.insert({section, key}); });
  return keys;
}

std::string keys_of_section(const std::string& section) {
  std::string list;
  StudyConfig c;
  visit_fields(c, [&](const char* s, const char* key, auto&, const auto&) {
    if (section == s) list += (list.empty() ? "" : ", ") + std::string(key);
  });
  return list;
}

// Refuses sections and keys the config does not have. `prefix` is "" or "quick.".
void check_known(const toml::table& table, const std::string& name, const std::string& prefix, bool allow_quick) {
  const auto keys = known_keys();
  std::set<std::string> sections;
  for (const auto& [section, key] : keys) sections.insert(section);
  for (auto&& [section_key, node] : table) {
    const std::string section(section_key.str());
    if (allow_quick && section == "quick") {
      if (!node.is_table()) throw ConfigError(error_message(name, "'quick' must be a table of sections ([quick.album] ...)"));
      check_known(*node.as_table(), name, "quick.", false);
      continue;
    }
    if (!sections.count(section) && !node.is_table()) {
      throw ConfigError(error_message(name, "unknown key '" + prefix + section + "'", "keys belong in a section, e.g. [study]"));
    }
    if (!sections.count(section)) {
      std::string list;
      for (const auto& s : sections) list += (list.empty() ? "" : ", ") + s;
      throw ConfigError(error_message(name, "unknown section [" + prefix + section + "]", "sections: " + list));
    }
    if (!node.is_table()) {
      throw ConfigError(error_message(name, "'" + prefix + section + "' must be a table ([" + prefix + section + "])"));
    }
    for (auto&& [key, value] : *node.as_table()) {
      (void)value;
      if (!keys.count({section, std::string(key.str())})) {
        throw ConfigError(error_message(name, "unknown key '" + prefix + section + "." + std::string(key.str()) + "'",
                                        "[" + section + "] has: " + keys_of_section(section)));
      }
    }
  }
}

toml::table parse_toml(std::string_view text, const std::string& name) {
  try {
    return toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(error_message(name + ", line " + std::to_string(e.source().begin.line),
                                    "not valid TOML: " + std::string(e.description())));
  }
}

}  // namespace

std::string rate_arm_name(double rate) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "r%g", rate);
  return buffer;
}

void overlay_study_toml(StudyConfig& config, std::string_view text, const std::string& name, const fs::path& base_dir,
                        bool apply_quick) {
  const toml::table root = parse_toml(text, name);
  check_known(root, name, "", true);
  const toml::table* source = &root;
  if (apply_quick) {
    const toml::node* quick = root.get("quick");
    if (!quick) return;
    source = quick->as_table();
  }
  const std::string prefix = apply_quick ? "quick." : "";
  visit_fields(config, [&](const char* section, const char* key, auto& field, const auto& check) {
    const toml::node* section_node = source->get(section);
    if (!section_node || !section_node->is_table()) return;
    const toml::node* node = section_node->as_table()->get(key);
    if (!node) return;
    using T = std::decay_t<decltype(field)>;
    T value{};
    const std::string where = key_where(name, prefix + section, key);
    if (!convert(*node, value)) {
      throw ConfigError(error_message(where, std::string("must be ") + type_name(&value)));
    }
    if (check) {
      const std::string problem = check(value);
      if (!problem.empty()) throw ConfigError(error_message(where, problem));
    }
    if constexpr (std::is_same_v<T, std::string>) {
      if (!value.empty() && is_path_key(section, key, value) && !base_dir.empty() && fs::path(value).is_relative()) {
        value = (base_dir / value).lexically_normal().string();
      }
    }
    field = std::move(value);
  });
}

void validate_study_config(const StudyConfig& c, const std::string& name) {
  const auto fail = [&](const std::string& key, const std::string& what, const std::string& hint = {}) {
    throw ConfigError(error_message(name + ": key '" + key + "'", what, hint));
  };
  if (!c.profiles.u2.empty() && c.profiles.u1.empty()) fail("profiles.u2", "is set without profiles.u1");
  if (!c.synthetic()) {
    if (c.data.image_root.empty()) fail("data.image_root", "is required with data.llava_json");
    if (c.data.heldout_json.empty()) fail("data.heldout_json", "is required with data.llava_json");
    if (c.pretrains() && c.data.pretrain_json.empty()) {
      fail("data.pretrain_json", "is required with data.llava_json when model.checkpoint is empty",
           "give a checkpoint to fine-tune, or rows to pretrain a base on");
    }
  } else {
    if (!c.data.image_root.empty() || !c.data.heldout_json.empty() || !c.data.pretrain_json.empty()) {
      fail("data.llava_json", "is empty, but other [data] keys are set", "a user's dataset starts with data.llava_json");
    }
    if (c.pretrains() && c.album.pretrain < 1) fail("album.pretrain", "must be at least 1 to pretrain a base model");
  }
  if (c.pretrain.perception_share > 0 && c.pretrain.perception_rate == 0) {
    fail("pretrain.perception_share", "is set but pretrain.perception_rate is 0 (no image carries a profile to ask about)");
  }
  if (c.pretrain.identicon_labels) {
    if (c.pretrain.perception_rate == 0) fail("pretrain.identicon_labels", "is set but pretrain.perception_rate is 0 (no image carries a picture to label)");
    if (c.study.style != "identicon") fail("pretrain.identicon_labels", "needs study.style = \"identicon\" (cells are labelled on identicon pictures only)");
    if (!c.synthetic()) fail("pretrain.identicon_labels", "needs the synthetic album (its objects.json carries the per-patch labels)");
  }
  if (c.pretrain.character_labels) {
    if (c.pretrain.perception_rate == 0) fail("pretrain.character_labels", "is set but pretrain.perception_rate is 0 (no image carries text to label)");
    if (c.study.style == "identicon") fail("pretrain.character_labels", "needs study.style = \"text\" or \"both\" (characters are labelled on drawn text only)");
    if (!c.synthetic()) fail("pretrain.character_labels", "needs the synthetic album (its objects.json carries the per-patch labels)");
  }
  if (c.pretrains() && c.model.config.empty()) fail("model.config", "is empty and model.checkpoint too", "tiny, tiny-reading, bench or a config.json");
  if (c.arms.control_seeds > static_cast<int>(c.study.seeds.size())) {
    fail("arms.control_seeds", "is larger than the number of seeds (" + std::to_string(c.study.seeds.size()) + ")");
  }
  if (c.arms.wm_per_batch > c.finetune.batch_size) {
    fail("arms.wm_per_batch", "is larger than finetune.batch_size (" + std::to_string(c.finetune.batch_size) + ")");
  }
  if (c.synthetic() && c.probe.images > c.album.heldout) {
    fail("probe.images", "is larger than album.heldout (" + std::to_string(c.album.heldout) + ")");
  }
  const std::int64_t probe_images = c.probe.images > 0 ? c.probe.images : c.album.heldout;
  if (c.synthetic() && probe_images < c.probe.folds) {
    fail("probe.folds", "is larger than the probe set's base images (" + std::to_string(probe_images) + ")");
  }
  if (c.profiles.u1.empty() && c.profiles.count < c.probe.folds) {
    fail("probe.folds", "is larger than profiles.count: profile-grouped folds need a profile of each set per fold");
  }
}

StudyConfig default_study_config(bool quick) {
  StudyConfig config;
  overlay_study_toml(config, kDefaultStudyToml, kEmbeddedConfigName, {}, false);
  if (quick) overlay_study_toml(config, kDefaultStudyToml, kEmbeddedConfigName, {}, true);
  return config;
}

std::vector<std::string> study_preset_names() { return {"reading"}; }

std::string_view study_preset_toml(const std::string& name) {
  if (name == "reading") return kReadingStudyToml;
  throw ConfigError(error_message("--preset", "unknown preset '" + name + "'", "known presets: reading"));
}

StudyConfig load_study_config(const fs::path& file, bool quick, const std::string& preset) {
  StudyConfig config = default_study_config(false);
  const std::string_view preset_text = preset.empty() ? std::string_view() : study_preset_toml(preset);
  const std::string preset_name = "preset '" + preset + "' (configs/" + preset + ".toml)";
  if (!preset.empty()) overlay_study_toml(config, preset_text, preset_name, {}, false);
  std::string text;
  fs::path base_dir;
  if (!file.empty()) {
    text = read_file(file);
    base_dir = fs::absolute(file).parent_path();
    overlay_study_toml(config, text, file.string(), base_dir, false);
  }
  if (quick) {
    overlay_study_toml(config, kDefaultStudyToml, kEmbeddedConfigName, {}, true);
    if (!preset.empty()) overlay_study_toml(config, preset_text, preset_name, {}, true);
    if (!file.empty()) overlay_study_toml(config, text, file.string(), base_dir, true);
  }
  validate_study_config(config, !file.empty() ? file.string() : !preset.empty() ? preset_name : std::string(kEmbeddedConfigName));
  return config;
}

std::vector<std::string> study_config_keys() {
  std::vector<std::string> keys;
  StudyConfig c;
  visit_fields(c, [&](const char* section, const char* key, auto&, const auto&) {
    keys.push_back(std::string(section) + "." + key);
  });
  return keys;
}

std::string study_config_to_toml(const StudyConfig& config) {
  toml::table root;
  visit_fields(config, [&](const char* section, const char* key, const auto& field, const auto&) {
    if (!root.contains(section)) root.insert(section, toml::table{});
    insert_toml(*root.get_as<toml::table>(section), key, field);
  });
  std::ostringstream out;
  out << "# privprobe study: the resolved configuration, as run (every key; see docs/study.md)\n" << root << "\n";
  return out.str();
}

json study_config_to_json(const StudyConfig& config) {
  json root = json::object();
  visit_fields(config, [&](const char* section, const char* key, const auto& field, const auto&) {
    root[section][key] = field;
  });
  return root;
}

}  // namespace privprobe
