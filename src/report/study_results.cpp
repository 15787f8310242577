#include "report/study_results.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "util/error.h"
#include "util/json_io.h"
#include "util/paths.h"

namespace privprobe {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Limits far above any real study, so a hostile file cannot make the report draw forever.
constexpr std::size_t kMaxModels = 1000;
constexpr std::size_t kMaxLayers = 10000;
constexpr std::size_t kMaxComparisons = 10000;

// A JSON value with the path that leads to it, so every error names the file and the key.
class Node {
 public:
  Node(const json& value, std::string path, const std::string& file) : value_(value), path_(std::move(path)), file_(file) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(error_message(file_, (path_.empty() ? std::string() : path_ + ": ") + what,
                                    "see docs/study-format.md for results.json"));
  }

  const json& value() const { return value_; }
  bool is_null() const { return value_.is_null(); }

  Node child_path(const json& value, const std::string& key) const {
    return Node(value, path_.empty() ? key : path_ + "." + key, file_);
  }

  void expect_object() const {
    if (!value_.is_object()) fail("expected an object, found " + std::string(value_.type_name()));
  }

  // The member `key`; a FormatError when it is absent.
  Node required(const std::string& key) const {
    expect_object();
    const auto it = value_.find(key);
    if (it == value_.end()) fail("missing required key '" + key + "'");
    return child_path(*it, key);
  }

  // The member `key`, or nothing when it is absent or null.
  std::optional<Node> optional(const std::string& key) const {
    expect_object();
    const auto it = value_.find(key);
    if (it == value_.end() || it->is_null()) return std::nullopt;
    return child_path(*it, key);
  }

  std::vector<Node> elements(std::size_t max_size) const {
    if (!value_.is_array()) fail("expected an array, found " + std::string(value_.type_name()));
    if (value_.size() > max_size) fail("has " + std::to_string(value_.size()) + " entries, more than " +
                                       std::to_string(max_size));
    std::vector<Node> nodes;
    for (std::size_t i = 0; i < value_.size(); ++i) {
      nodes.emplace_back(value_[i], path_ + "[" + std::to_string(i) + "]", file_);
    }
    return nodes;
  }

  double number() const {
    if (!value_.is_number()) fail("expected a number, found " + std::string(value_.type_name()));
    const double v = value_.get<double>();
    if (!std::isfinite(v)) fail("is not finite");
    return v;
  }

  long long integer(long long min, long long max) const {
    if (!value_.is_number_integer()) fail("expected an integer, found " + std::string(value_.type_name()));
    const long long v = value_.is_number_unsigned()
                            ? static_cast<long long>(std::min<std::uint64_t>(value_.get<std::uint64_t>(),
                                                                             std::numeric_limits<long long>::max()))
                            : value_.get<long long>();
    if (v < min || v > max) fail(std::to_string(v) + " is outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    return v;
  }

  std::string string() const {
    if (!value_.is_string()) fail("expected a string, found " + std::string(value_.type_name()));
    return value_.get<std::string>();
  }

  bool boolean() const {
    if (!value_.is_boolean()) fail("expected true or false, found " + std::string(value_.type_name()));
    return value_.get<bool>();
  }

  // Typed members: required_* throw when absent or null, optional_* return nothing then.
  double required_number(const std::string& key) const { return required(key).number(); }
  std::string required_string(const std::string& key) const { return required(key).string(); }
  OptionalNumber optional_number(const std::string& key) const {
    const auto n = optional(key);
    return n ? OptionalNumber(n->number()) : std::nullopt;
  }
  std::optional<int> optional_layer(const std::string& key) const {
    const auto n = optional(key);
    return n ? std::optional<int>(static_cast<int>(n->integer(0, kMaxLayers))) : std::nullopt;
  }
  std::string optional_string(const std::string& key) const {
    const auto n = optional(key);
    return n ? n->string() : std::string();
  }
  std::optional<bool> optional_bool(const std::string& key) const {
    const auto n = optional(key);
    return n ? std::optional<bool>(n->boolean()) : std::nullopt;
  }

 private:
  const json& value_;
  std::string path_;
  const std::string& file_;
};

// Model ids become file names (models/<id>/, acts/<id>.safetensors, figures/pca_<id>.png).
bool is_safe_id(const std::string& id) {
  if (id.empty() || id.size() > 100 || id == "." || id == "..") return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
  });
}

ProbeSummary parse_probe(const Node& node) {
  node.expect_object();
  ProbeSummary probe;
  probe.best_layer = node.optional_layer("best_layer");
  probe.accuracy = node.optional_number("accuracy");
  probe.ci_low = node.optional_number("ci_low");
  probe.ci_high = node.optional_number("ci_high");
  probe.control = node.optional_number("control");
  probe.mean_selectivity = node.optional_number("mean_selectivity");
  for (const Node& layer : node.required("layers").elements(kMaxLayers)) {
    LayerScore score;
    score.layer = static_cast<int>(layer.required("layer").integer(0, kMaxLayers));
    score.accuracy = layer.required_number("accuracy");
    score.ci_low = layer.optional_number("ci_low");
    score.ci_high = layer.optional_number("ci_high");
    score.control = layer.optional_number("control");
    score.selectivity = layer.optional_number("selectivity");
    score.auc = layer.optional_number("auc");
    probe.layers.push_back(score);
  }
  return probe;
}

ModelResult parse_model(const Node& node) {
  node.expect_object();
  ModelResult model;
  model.id = node.required_string("id");
  if (!is_safe_id(model.id)) {
    node.required("id").fail("'" + model.id + "' is not a usable model id (letters, digits, '.', '-', '_')");
  }
  model.arm = node.required_string("arm");
  model.kind = node.required_string("kind");
  model.rate = node.optional_number("rate");
  model.realized_rate = node.optional_number("realized_rate");
  if (const auto seed = node.optional("seed")) model.seed = static_cast<int>(seed->integer(0, 1'000'000'000));
  if (const auto train = node.optional("train")) {
    if (const auto steps = train->optional("steps")) model.train_steps = steps->integer(0, 1'000'000'000'000LL);
    model.final_loss = train->optional_number("final_loss");
  }
  const Node probe = node.required("probe");
  if (!probe.is_null()) {
    if (const auto profile = probe.optional("profile")) model.probe_profile = parse_probe(*profile);
    if (const auto image = probe.optional("image")) model.probe_image = parse_probe(*image);
  }
  if (const auto vs = node.optional("vs_base")) {
    VsBase v;
    v.layer = vs->optional_layer("layer");
    v.difference = vs->optional_number("difference");
    v.ci_low = vs->optional_number("ci_low");
    v.ci_high = vs->optional_number("ci_high");
    v.p_holm = vs->optional_number("p_holm");
    model.vs_base = v;
  }
  if (const auto ask = node.optional("ask")) {
    AskSummary a;
    a.contains_rate = ask->optional_number("contains_rate");
    a.calibrated_accuracy = ask->optional_number("calibrated_accuracy");
    a.calibrated_auc = ask->optional_number("calibrated_auc");
    a.uncalibrated_accuracy = ask->optional_number("uncalibrated_accuracy");
    a.exposure_seen = ask->optional_number("exposure_seen");
    a.exposure_unseen = ask->optional_number("exposure_unseen");
    model.ask = a;
  }
  if (const auto eval = node.optional("eval")) {
    EvalSummary e;
    e.accuracy = eval->optional_number("accuracy");
    if (const auto by_type = eval->optional("by_type")) {
      by_type->expect_object();
      for (const auto& [type, value] : by_type->value().items()) {
        if (value.is_null()) continue;
        e.by_type.emplace_back(type, by_type->child_path(value, type).number());
      }
      std::sort(e.by_type.begin(), e.by_type.end());
    }
    model.eval = e;
  }
  return model;
}

Comparison parse_comparison(const Node& node) {
  node.expect_object();
  Comparison c;
  c.name = node.required_string("name");
  c.base = node.required_string("base");
  c.tuned = node.required_string("tuned");
  c.group_by = node.required_string("group_by");
  c.best_layer = node.optional_layer("best_layer");
  c.difference = node.optional_number("difference");
  c.ci_low = node.optional_number("ci_low");
  c.ci_high = node.optional_number("ci_high");
  c.p_holm = node.optional_number("p_holm");
  c.significant = node.optional_bool("significant");
  for (const Node& layer : node.required("layers").elements(kMaxLayers)) {
    LayerDifference d;
    d.layer = static_cast<int>(layer.required("layer").integer(0, kMaxLayers));
    d.difference = layer.required_number("difference");
    d.ci_low = layer.optional_number("ci_low");
    d.ci_high = layer.optional_number("ci_high");
    d.p_value = layer.optional_number("p_value");
    d.p_holm = layer.optional_number("p_holm");
    c.layers.push_back(d);
  }
  return c;
}

ArmSummary parse_arm(const Node& node) {
  node.expect_object();
  ArmSummary arm;
  arm.arm = node.required_string("arm");
  arm.rate = node.optional_number("rate");
  if (const auto models = node.optional("models")) {
    for (const Node& m : models->elements(kMaxModels)) arm.models.push_back(m.string());
  }
  arm.best_layer_accuracy_mean = node.optional_number("best_layer_accuracy_mean");
  arm.best_layer_accuracy_sd = node.optional_number("best_layer_accuracy_sd");
  arm.difference_to_base_mean = node.optional_number("difference_to_base_mean");
  arm.vqa_accuracy_mean = node.optional_number("vqa_accuracy_mean");
  return arm;
}

}  // namespace

const ModelResult* StudyResults::find_model(const std::string& id) const {
  for (const ModelResult& m : models) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

const ModelResult* StudyResults::base_model() const {
  for (const ModelResult& m : models) {
    if (m.kind == "base") return &m;
  }
  return nullptr;
}

StudyResults parse_study_results(const json& document, const fs::path& file) {
  const std::string where = file.string();
  const Node root(document, "", where);
  root.expect_object();
  const long long version = root.required("format_version").integer(0, std::numeric_limits<int>::max());
  if (version != kFormatVersion) {
    root.required("format_version").fail("version " + std::to_string(version) + " is not supported (this privprobe reads " +
                                         std::to_string(kFormatVersion) + ")");
  }
  StudyResults results;
  results.file = file;
  results.privprobe = root.optional_string("privprobe");
  results.style = root.optional_string("style");
  results.style_note = root.optional_string("style_note");
  if (const auto p = root.optional("perception")) {
    Perception perception;
    perception.layer = p->optional_layer("layer");
    perception.accuracy = p->optional_number("accuracy");
    perception.ci_low = p->optional_number("ci_low");
    perception.ci_high = p->optional_number("ci_high");
    perception.control = p->optional_number("control");
    perception.what = p->optional_string("what");
    if (const auto naming = p->optional("naming")) {
      perception.naming = naming->optional_number("accuracy");
      perception.naming_chance = naming->optional_number("chance");
    }
    results.perception = perception;
  }
  std::set<std::string> ids;
  for (const Node& m : root.required("models").elements(kMaxModels)) {
    results.models.push_back(parse_model(m));
    if (!ids.insert(results.models.back().id).second) m.fail("model id '" + results.models.back().id + "' appears twice");
  }
  if (results.models.empty()) root.required("models").fail("lists no model");
  for (const Node& c : root.required("comparisons").elements(kMaxComparisons)) {
    results.comparisons.push_back(parse_comparison(c));
  }
  if (const auto arms = root.optional("arms")) {
    for (const Node& a : arms->elements(kMaxModels)) results.arms.push_back(parse_arm(a));
  }
  if (const auto pc = root.optional("positive_control")) {
    PositiveControl control;
    control.present = pc->required("present").boolean();
    control.detected = pc->optional_bool("detected");
    control.model = pc->optional_string("model");
    control.criterion = pc->optional_string("criterion");
    if (const auto out = pc->optional("output_level")) {
      control.revealed = out->optional_bool("revealed");
      control.calibrated_membership = out->optional_number("calibrated_membership");
    }
    results.positive_control = control;
  }
  if (const auto f = root.optional("findings")) {
    Findings findings;
    findings.r05_above_base = f->optional_bool("r05_above_base");
    findings.r05_above_r1 = f->optional_bool("r05_above_r1");
    findings.prompt_near_chance = f->optional_bool("prompt_near_chance");
    findings.vqa_unchanged = f->optional_bool("vqa_unchanged");
    findings.conclusion = f->optional_string("conclusion");
    findings.summary = f->optional_string("summary");
    results.findings = findings;
  }
  return results;
}

StudyResults load_study_results(const fs::path& study) {
  require_folder(study, "study folder");
  const fs::path file = study / kResultsFile;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw IoError(error_message(file.string(), "not found", "run `privprobe study` first, or give the study folder"));
  }
  return parse_study_results(read_json(file), file);
}

}  // namespace privprobe
