// results.json (docs/study-format.md) read into plain structs, checked against the contract: a
// missing required key or a value of the wrong type is a FormatError naming the file and the
// key's path ("results.json: models[2].probe.profile.layers[0].accuracy: ..."). Figures that the
// study could not compute are null in the file and std::nullopt here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace privprobe {

inline constexpr const char* kResultsFile = "results.json";

using OptionalNumber = std::optional<double>;

struct LayerScore {
  int layer = 0;
  double accuracy = 0;
  OptionalNumber ci_low, ci_high, control, selectivity, auc;
};

// One group_by of a model's probe ("profile" folds lead; "image" folds are confounded by identity).
struct ProbeSummary {
  std::optional<int> best_layer;
  OptionalNumber accuracy, ci_low, ci_high, control, mean_selectivity;
  std::vector<LayerScore> layers;  // in file order
};

struct VsBase {
  std::optional<int> layer;
  OptionalNumber difference, ci_low, ci_high, p_holm;
};

struct AskSummary {
  OptionalNumber contains_rate, calibrated_accuracy, calibrated_auc, uncalibrated_accuracy;
  OptionalNumber exposure_seen, exposure_unseen;
};

struct EvalSummary {
  OptionalNumber accuracy;
  std::vector<std::pair<std::string, double>> by_type;  // sorted by type
};

struct ModelResult {
  std::string id;    // "base", "r0.5-s0", ...: checked to be a safe file name
  std::string arm;   // "base", "r0", "r0.5", "r1", "control", ...
  std::string kind;  // "base" or "finetune"
  OptionalNumber rate, realized_rate;
  std::optional<int> seed;
  std::optional<long long> train_steps;
  OptionalNumber final_loss;
  std::optional<ProbeSummary> probe_profile, probe_image;
  std::optional<VsBase> vs_base;
  std::optional<AskSummary> ask;
  std::optional<EvalSummary> eval;
};

struct LayerDifference {
  int layer = 0;
  double difference = 0;
  OptionalNumber ci_low, ci_high, p_value, p_holm;
};

struct Comparison {
  std::string name, base, tuned, group_by;
  std::optional<int> best_layer;
  OptionalNumber difference, ci_low, ci_high, p_holm;
  std::optional<bool> significant;
  std::vector<LayerDifference> layers;
};

struct ArmSummary {
  std::string arm;
  OptionalNumber rate;
  std::vector<std::string> models;
  OptionalNumber best_layer_accuracy_mean, best_layer_accuracy_sd, difference_to_base_mean, vqa_accuracy_mean;
};

struct Perception {
  std::optional<int> layer;
  OptionalNumber accuracy, ci_low, ci_high, control;
  std::string what;
  OptionalNumber naming, naming_chance;  // naming.{accuracy, chance}: the base's own task on new images
};

struct PositiveControl {
  bool present = false;
  std::optional<bool> detected;
  std::string model, criterion;
  std::optional<bool> revealed;                 // output_level.revealed: its answers give it away
  std::optional<double> calibrated_membership;  // output_level.calibrated_membership
};

struct Findings {
  std::optional<bool> r05_above_base, r05_above_r1, prompt_near_chance, vqa_unchanged;
  std::string conclusion, summary;
};

struct StudyResults {
  std::filesystem::path file;  // results.json, for messages
  std::string privprobe;       // the version that wrote it
  std::string style, style_note;
  std::optional<Perception> perception;
  std::vector<ModelResult> models;  // base first, then fine-tuned models in arm order
  std::vector<Comparison> comparisons;
  std::vector<ArmSummary> arms;
  std::optional<PositiveControl> positive_control;
  std::optional<Findings> findings;

  // nullptr when no model has that id.
  const ModelResult* find_model(const std::string& id) const;
  // The model of kind "base" (nullptr when there is none).
  const ModelResult* base_model() const;
};

// Parses a results.json document; `file` names it in errors. Throws FormatError.
StudyResults parse_study_results(const nlohmann::json& document, const std::filesystem::path& file);

// Reads and parses STUDY/results.json. Throws IoError (missing, unreadable) or FormatError.
StudyResults load_study_results(const std::filesystem::path& study);

}  // namespace privprobe
