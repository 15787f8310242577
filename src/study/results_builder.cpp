#include "study/results_builder.h"

#include <cmath>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "profiles/profile.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/version.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

std::optional<double> number(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

json opt(const std::optional<double>& x) { return x ? json(*x) : json(nullptr); }

// Rounds every floating-point number to 6 decimals; NaN and infinities become null.
json rounded(const json& j) {
  if (j.is_number_float()) {
    const double x = j.get<double>();
    if (!std::isfinite(x)) return nullptr;
    return std::round(x * 1e6) / 1e6;
  }
  if (j.is_array() || j.is_object()) {
    json copy = j;
    for (auto& element : copy) element = rounded(element);
    return copy;
  }
  return j;
}

json probe_summary(const fs::path& file) {
  const json p = read_json(file);
  json layers = json::array();
  double selectivity = 0;
  int counted = 0;
  json best = nullptr;
  const int best_layer = p.at("best_layer").get<int>();
  for (const json& l : p.at("layers")) {
    json row = {{"layer", l.at("layer")},
                {"accuracy", l.at("accuracy")},
                {"ci_low", l.value("ci_low", json(nullptr))},
                {"ci_high", l.value("ci_high", json(nullptr))},
                {"control", l.value("control", json(nullptr))},
                {"selectivity", l.value("selectivity", json(nullptr))},
                {"auc", l.value("auc", json(nullptr))}};
    if (const auto s = number(l, "selectivity")) {
      selectivity += *s;
      ++counted;
    }
    if (row["layer"].get<int>() == best_layer) best = row;
    layers.push_back(std::move(row));
  }
  if (best.is_null()) throw FormatError(error_message(file.string(), "best_layer names no layer of the file"));
  return {{"best_layer", best_layer},
          {"accuracy", best["accuracy"]},
          {"ci_low", best["ci_low"]},
          {"ci_high", best["ci_high"]},
          {"control", best["control"]},
          {"mean_selectivity", counted > 0 ? json(selectivity / counted) : json(nullptr)},
          {"layers", layers}};
}

// The reported layer: among the layers where the tuned probe is significantly above the base's
// (Holm p < alpha, interval above 0), the one with the largest difference; without any, the
// largest difference overall (then `significant` is false).
json comparison_summary(const fs::path& file, const ComparisonPlan& plan) {
  const json c = read_json(file);
  json layers = json::array();
  const json* reported = nullptr;
  bool significant = false;
  for (const json& l : c.at("layers")) {
    layers.push_back({{"layer", l.at("layer")},
                      {"difference", l.at("difference")},
                      {"ci_low", l.value("ci_low", json(nullptr))},
                      {"ci_high", l.value("ci_high", json(nullptr))},
                      {"p_value", l.value("p_value", json(nullptr))},
                      {"p_holm", l.value("p_holm", json(nullptr))}});
  }
  for (const json& l : layers) {
    const bool above = number(l, "p_holm").value_or(1) < kSignificanceLevel && number(l, "ci_low").value_or(-1) > 0;
    const double difference = number(l, "difference").value_or(-2);
    if (above && !significant) {
      significant = true;
      reported = &l;
    } else if (above == significant && (!reported || difference > number(*reported, "difference").value_or(-2))) {
      reported = &l;
    }
  }
  json summary = {{"name", plan.name}, {"base", plan.base}, {"tuned", plan.tuned}, {"group_by", "profile"},
                  {"significant", significant}};
  for (const char* key : {"difference", "ci_low", "ci_high", "p_holm"}) summary[key] = reported ? (*reported)[key] : json(nullptr);
  summary["best_layer"] = reported ? (*reported)["layer"] : json(nullptr);
  summary["layers"] = layers;
  return summary;
}

json ask_summary(const fs::path& file) {
  const json a = read_json(file);
  const json& membership = a.at("membership");
  return {{"contains_rate", a.at("generation").at("contains_rate")},
          {"calibrated_accuracy", membership.at("calibrated").at("accuracy")},
          {"calibrated_auc", membership.at("calibrated").at("auc")},
          {"uncalibrated_accuracy", membership.at("uncalibrated").at("accuracy")},
          {"exposure_seen", a.at("exposure").at("seen")},
          {"exposure_unseen", a.at("exposure").at("unseen")},
          {"exposure_max", a.at("exposure").at("max")}};
}

json eval_summary(const fs::path& file) {
  const json e = read_json(file);
  json by_type = json::object();
  for (const auto& [type, figures] : e.at("per_type").items()) by_type[type] = figures.at("accuracy");
  return {{"accuracy", e.at("accuracy")}, {"items", e.at("total")}, {"by_type", by_type}};
}

json train_summary(const fs::path& run) {
  const json config = read_json(run / "train_config.json");
  json last_loss = nullptr;
  std::istringstream log(read_file(run / "train_log.jsonl"));
  std::string line, last;
  while (std::getline(log, line)) {
    if (!line.empty()) last = line;
  }
  if (!last.empty()) last_loss = json::parse(last).value("loss", json(nullptr));
  return {{"steps", config.at("resolved").at("total_steps")}, {"final_loss", last_loss}, {"seconds", nullptr}};
}

std::optional<double> mean(const std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

std::optional<double> sample_sd(const std::vector<double>& v) {
  if (v.size() < 2) return std::nullopt;
  const double m = *mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

std::string fixed(double x, int digits = 3) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, x);
  return buffer;
}

std::string style_note(const std::string& style) {
  if (style == "text") {
    return "Profiles are drawn as text lines, as in the paper: only a model that can read perceives them "
           "(a tiny model trained for minutes cannot; see the perception check).";
  }
  const std::string drawn = style == "both" ? "as text lines and as identicon pictures" : "as identicon pictures";
  return "Profiles are drawn " + drawn + ": a model this small does not learn to read text in minutes of CPU, "
         "so text would leave it nothing to perceive or memorise; real checkpoints (which read) use style = \"text\".";
}

}  // namespace

json build_study_results(const StudyContext& ctx) {
  const StudyConfig& c = ctx.config;
  const fs::path& S = ctx.folder;
  const StudyPlan& plan = ctx.plan;

  json comparisons = json::array();
  for (const ComparisonPlan& cmp : plan.comparisons) {
    comparisons.push_back(comparison_summary(S / "compare" / cmp.folder / "compare.json", cmp));
  }
  const auto comparison_of = [&](const std::string& base, const std::string& tuned) -> const json* {
    for (const json& cmp : comparisons) {
      if (cmp["base"] == base && cmp["tuned"] == tuned) return &cmp;
    }
    return nullptr;
  };

  json models = json::array();
  for (const ModelPlan& m : plan.models) {
    json entry = {{"id", m.id}, {"arm", m.arm}, {"kind", m.base ? "base" : "finetune"},
                  {"rate", m.rate ? json(*m.rate) : json(nullptr)}, {"realized_rate", nullptr},
                  {"seed", m.seed ? json(*m.seed) : json(nullptr)}, {"train", nullptr}, {"vs_base", nullptr}};
    if (!m.base) {
      const fs::path embed = S / "data" / "embed" / m.embed;
      entry["realized_rate"] = read_json(embed / "embed_config.json").at("result").at("realized_rate");
      if (m.arm == kControlArm) entry["control_questions"] = read_json(embed / "questions.json").at("asked_rows");
    }
    if (!m.base || c.pretrains()) entry["train"] = train_summary(S / "models" / m.id);
    entry["probe"] = {{"profile", probe_summary(S / "probe" / m.id / "profile" / "probe.json")},
                      {"image", probe_summary(S / "probe" / m.id / "image" / "probe.json")}};
    if (const json* cmp = m.base ? nullptr : comparison_of(kBaseModel, m.id)) {
      entry["vs_base"] = {{"layer", (*cmp)["best_layer"]}, {"difference", (*cmp)["difference"]}, {"ci_low", (*cmp)["ci_low"]},
                          {"ci_high", (*cmp)["ci_high"]}, {"p_holm", (*cmp)["p_holm"]}, {"significant", (*cmp)["significant"]}};
    }
    entry["ask"] = ask_summary(S / "ask" / m.id / "ask.json");
    entry["eval"] = eval_summary(S / "eval" / m.id / "eval.json");
    models.push_back(std::move(entry));
  }

  // Per arm: means over seeds.
  json arms = json::array();
  std::map<std::string, double> arm_vqa;
  for (const std::string& arm : plan.arms) {
    std::vector<std::string> ids;
    std::vector<double> accuracy, difference, vqa;
    json rate = nullptr;
    for (const json& m : models) {
      if (m["arm"] != arm) continue;
      ids.push_back(m["id"].get<std::string>());
      rate = m["rate"];
      if (const auto a = number(m["probe"]["profile"], "accuracy")) accuracy.push_back(*a);
      if (m["vs_base"].is_object()) {
        if (const auto d = number(m["vs_base"], "difference")) difference.push_back(*d);
      }
      if (const auto v = number(m["eval"], "accuracy")) vqa.push_back(*v);
    }
    if (const auto v = mean(vqa)) arm_vqa[arm] = *v;
    arms.push_back({{"arm", arm}, {"rate", rate}, {"models", ids}, {"best_layer_accuracy_mean", opt(mean(accuracy))},
                    {"best_layer_accuracy_sd", opt(sample_sd(accuracy))}, {"difference_to_base_mean", opt(mean(difference))},
                    {"vqa_accuracy_mean", opt(mean(vqa))}});
  }
  const json base_model = models.front();
  const std::optional<double> base_vqa = number(base_model["eval"], "accuracy");

  // Perception: can the base's vision tower tell U1's pictures from U2's?
  const json vision = probe_summary(S / "probe" / "base.vision" / "image" / "probe.json");
  json perception = {{"layer", vision["best_layer"]}, {"accuracy", vision["accuracy"]}, {"ci_low", vision["ci_low"]},
                     {"ci_high", vision["ci_high"]}, {"control", vision["control"]},
                     {"what", "linear probe on the base's vision tower (mean over patches) telling U1 from U2 pictures, "
                              "image-grouped folds"}};
  // And its own perception task on new images: does it name the U0 user drawn on a held-out image?
  const fs::path naming_file = S / "ask" / "base.u0" / "ask.json";
  perception["naming"] = nullptr;
  if (fs::exists(naming_file)) {
    const json naming = read_json(naming_file);
    const fs::path u0 = S / "data" / "profiles" / "u0.jsonl";
    const std::size_t u0_count = fs::exists(u0) ? load_profiles(u0).profiles.size() : 0;
    perception["naming"] = {{"accuracy", naming.at("generation").at("contains_rate_seen")},
                            {"chance", u0_count > 0 ? json(1.0 / static_cast<double>(u0_count)) : json(nullptr)},
                            {"what", "the base's answers to the probe question on held-out images carrying a U0 profile "
                                     "(the names its pretraining taught it to give) that contain the right username"}};
  }

  // How many models of an arm are significantly above `against` (the base, or the same seed of an arm).
  struct Tally {
    int significant = 0, total = 0;
    json all() const { return total > 0 ? json(significant == total) : json(nullptr); }
    std::string text() const { return std::to_string(significant) + " of " + std::to_string(total) + " seed(s)"; }
  };
  const auto tally = [&](const std::string& arm, const std::string& against) {
    Tally t;
    for (const ModelPlan& m : plan.models) {
      if (m.arm != arm) continue;
      const std::string other = against == kBaseModel ? std::string(kBaseModel) : model_id(against, *m.seed);
      const json* cmp = comparison_of(other, m.id);
      if (!cmp) continue;
      ++t.total;
      t.significant += (*cmp)["significant"].get<bool>() ? 1 : 0;
    }
    return t;
  };
  const auto all_significant = [&](const std::string& arm, const std::string& against) { return tally(arm, against).all(); };
  const std::string lead = lead_partial_arm(c);
  const json r05_above_base = lead.empty() ? json(nullptr) : all_significant(lead, kBaseModel);
  const json r05_above_r1 = lead.empty() ? json(nullptr) : all_significant(lead, "r1");
  json r0_above_base = nullptr;
  for (const ModelPlan& m : plan.models) {
    if (m.arm != "r0") continue;
    if (const json* cmp = comparison_of(kBaseModel, m.id)) {
      r0_above_base = r0_above_base.is_null() ? (*cmp)["significant"] : json(r0_above_base.get<bool>() || (*cmp)["significant"].get<bool>());
    }
  }

  json control = {{"present", c.arms.control}, {"detected", nullptr}, {"model", nullptr}, {"models", json::array()},
                  {"criterion", "profile-grouped probe above the base's: Holm-corrected p < 0.05 and interval above 0 at "
                                "some layer, for every control model"}};
  if (c.arms.control) {
    control["detected"] = all_significant(kControlArm, kBaseModel);
    for (const ModelPlan& m : plan.models) {
      if (m.arm == kControlArm) control["models"].push_back(m.id);
    }
    if (!control["models"].empty()) control["model"] = control["models"][0];
  }
  const bool control_detected = control["detected"].is_boolean() && control["detected"].get<bool>();
  // What the first control model's outputs reveal: the prompt baseline's calibrated membership. A
  // control that the outputs give away but the probes miss says the probes are the blind spot.
  control["output_level"] = nullptr;
  for (const json& m : models) {
    if (m["arm"] != kControlArm) continue;
    const std::optional<double> membership = number(m["ask"], "calibrated_accuracy");
    control["output_level"] = {{"model", m["id"]},
                               {"calibrated_membership", opt(membership)},
                               {"contains_rate", opt(number(m["ask"], "contains_rate"))},
                               {"revealed", membership && *membership - 0.5 > kChanceMargin},
                               {"criterion", "calibrated membership above 0.5 by more than the chance margin"}};
    break;
  }
  const bool control_revealed = control["output_level"].is_object() && control["output_level"]["revealed"].get<bool>();

  // Prompt baseline near chance for every task-irrelevant model (the control is meant to reveal).
  bool near_chance = true;
  for (const json& m : models) {
    if (m["arm"] == kControlArm) continue;
    const double membership = number(m["ask"], "calibrated_accuracy").value_or(0.5);
    const double contains = number(m["ask"], "contains_rate").value_or(0);
    near_chance = near_chance && std::abs(membership - 0.5) <= kChanceMargin && contains <= kChanceMargin;
  }
  // VQA unchanged: every task-irrelevant arm within the margin of r0 (the clean fine-tune), else of the base.
  const std::optional<double> reference = arm_vqa.count("r0") ? std::optional<double>(arm_vqa["r0"]) : base_vqa;
  json vqa_unchanged = nullptr;
  for (const auto& [arm, vqa] : arm_vqa) {
    if (arm == kControlArm || arm == "r0" || !reference) continue;
    const bool within = std::abs(vqa - *reference) <= kVqaMargin;
    vqa_unchanged = vqa_unchanged.is_null() ? json(within) : json(vqa_unchanged.get<bool>() && within);
  }

  std::string conclusion;
  std::string why;
  if (r05_above_base.is_boolean() && r05_above_base.get<bool>()) {
    if (r0_above_base.is_boolean() && r0_above_base.get<bool>()) {
      conclusion = "inconclusive";
      why = "The probe rose above the base's for " + lead + " but also for r0, which never saw a watermark: "
            "fine-tuning itself moved the states, so the rise is not evidence of memorisation.";
    } else {
      conclusion = "positive";
      why = "Fine-tuning at " + lead + " made the seen profiles separable from unseen ones beyond the base model, "
            "on profiles the probe never trained on: the task-irrelevant content was memorised.";
    }
  } else if (lead.empty()) {
    conclusion = "inconclusive";
    why = "No rate strictly between 0 and 1 was fine-tuned, so the paper's partial mini-batch claim was not tested.";
  } else if (control_detected) {
    conclusion = "negative";
    why = "The positive control was detected, so the pipeline can see memorisation when the content is task-relevant; "
          "at " + lead + " it found none beyond the base model.";
  } else {
    conclusion = "inconclusive";
    if (!c.arms.control) {
      why = "No positive control was run, so the absence of an effect at " + lead + " cannot be told apart from a "
            "set-up too weak to show one.";
    } else if (control_revealed) {
      why = "The probes missed memorisation that the control's outputs show, so the absence of an effect at " + lead +
            " says nothing.";
    } else {
      why = "The positive control was not detected: the set-up cannot show memorisation even when the content is "
            "task-relevant, so the absence of an effect at " + lead + " says nothing.";
    }
  }
  std::string summary = "The base model's vision tower tells U1 from U2 profiles at " +
                        (number(perception, "accuracy") ? fixed(*number(perception, "accuracy")) : std::string("n/a")) +
                        " (chance 0.5). ";
  if (perception["naming"].is_object()) {
    const json& naming = perception["naming"];
    summary += "It names the U0 user drawn on a new image " + fixed(naming["accuracy"].get<double>()) + " of the time" +
               (number(naming, "chance") ? " (chance " + fixed(*number(naming, "chance")) + ")" : std::string()) + ". ";
  }
  if (c.arms.control) {
    summary += std::string("The positive control was ") + (control_detected ? "detected" : "not detected") + " by the probes";
    // Its outputs may show what its states do not.
    if (control_revealed) {
      const json& out = control["output_level"];
      summary += "; its answers did learn U1's names (calibrated membership " + fixed(out["calibrated_membership"].get<double>()) +
                 ", answers naming the right user " + fixed(number(out, "contains_rate").value_or(0)) + ")";
    }
    summary += ". ";
  }
  if (!lead.empty()) {
    summary += lead + " was significantly above the base model in " + tally(lead, kBaseModel).text() +
               " (leave-profiles-out probes, Holm-corrected)";
    if (r05_above_r1.is_boolean()) summary += " and above r1 in " + tally(lead, "r1").text();
    summary += ". ";
  }
  summary += std::string("The prompt baseline ") + (near_chance ? "stayed near chance" : "was not near chance") + "; ";
  summary += vqa_unchanged.is_null() ? std::string("VQA accuracy had no comparison. ")
                                     : std::string("VQA accuracy was ") + (vqa_unchanged.get<bool>() ? "unchanged" : "changed") +
                                           " across arms. ";
  summary += why;

  const json findings = {{"lead_arm", lead.empty() ? json(nullptr) : json(lead)},
                         {"r05_above_base", r05_above_base},
                         {"r05_above_r1", r05_above_r1},
                         {"r0_above_base", r0_above_base},
                         {"prompt_near_chance", near_chance},
                         {"vqa_unchanged", vqa_unchanged},
                         {"conclusion", conclusion},
                         {"summary", summary}};
  json results = {{"format_version", kFormatVersion},
                  {"privprobe", std::string(version()) + " (git " + git_revision() + ")"},
                  {"config", study_config_to_json(c)},
                  {"quick", ctx.quick},
                  {"style", c.study.style},
                  {"style_note", style_note(c.study.style)},
                  {"conventions", {{"alpha", kSignificanceLevel}, {"chance_margin", kChanceMargin}, {"vqa_margin", kVqaMargin}}},
                  {"perception", perception},
                  {"models", models},
                  {"comparisons", comparisons},
                  {"arms", arms},
                  {"positive_control", control},
                  {"findings", findings}};
  return rounded(results);
}

}  // namespace privprobe
