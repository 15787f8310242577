#include "infer/ask.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "infer/inference.h"
#include "infer/membership.h"
#include "probe/folds.h"
#include "probe/probe.h"
#include "probeset/probeset.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/progress.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

std::string path_string(const fs::path& p) { return fs::absolute(p).lexically_normal().generic_string(); }

struct FoldSource {
  FoldPlan plan;
  json description;
};

// probe's folds.json when given, else probe's own stratified group k-fold on the probe set.
FoldSource membership_folds(const AskConfig& config, const ProbeSet& set, const std::vector<int>& labels) {
  if (!config.folds.empty()) {
    FoldPlan plan = fold_plan_from_json(read_json(config.folds), config.folds.string());
    check_fold_plan(plan, labels, config.folds.string());
    return {plan, {{"source", "file"}, {"file", path_string(config.folds)}, {"group_by", plan.group_by}}};
  }
  std::vector<std::int64_t> profiles, images;
  for (const ProbeSample& s : set.samples) {
    profiles.push_back(s.profile_index);
    images.push_back(s.group);
  }
  // As `probe --group-by profile`: a profile's images and each image's twin stay together.
  const std::vector<std::int64_t> groups = config.group_by == "profile" ? profile_and_image_components(profiles, images) : images;
  FoldPlan plan = make_group_kfold(labels, groups, config.fold_count, config.repeats, config.seed, set.file.string());
  plan.group_by = config.group_by;
  return {plan,
          {{"source", "kfold"}, {"group_by", config.group_by}, {"folds", config.fold_count}, {"repeats", config.repeats},
           {"seed", config.seed}}};
}

json membership_json(const MembershipResult& r, const char* score, const char* note) {
  json folds = json::array();
  for (const MembershipFold& f : r.folds) {
    folds.push_back({{"repeat", f.repeat}, {"fold", f.fold}, {"threshold", f.threshold}, {"accuracy", f.accuracy}, {"auc", f.auc}});
  }
  json j = {{"accuracy", r.accuracy}, {"auc", r.auc}, {"score", score}, {"folds", folds}};
  if (note) j["note"] = note;
  return j;
}

double mean_of(const std::vector<double>& values, const std::vector<int>& labels, int label) {
  double sum = 0;
  std::size_t count = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (label >= 0 && labels[i] != label) continue;
    sum += values[i];
    ++count;
  }
  return count > 0 ? sum / static_cast<double>(count) : std::nan("");
}

}  // namespace

void AskConfig::validate() const {
  if (model.empty()) throw ConfigError(error_message("ask", "--model is required"));
  if (probeset.empty()) throw ConfigError(error_message("ask", "--probeset is required"));
  if (out.empty()) throw ConfigError(error_message("ask", "--out is required"));
  if (max_new_tokens < 1) throw ConfigError(error_message("--max-new-tokens", "must be at least 1"));
  if (batch_size < 1) throw ConfigError(error_message("--batch-size", "must be at least 1"));
  if (fold_count < 2) throw ConfigError(error_message("--fold-count", "must be at least 2"));
  if (repeats < 1) throw ConfigError(error_message("--repeats", "must be at least 1"));
  if (group_by != "image" && group_by != "profile") {
    throw ConfigError(error_message("--group-by " + group_by, "unknown grouping", "image or profile"));
  }
  if (!folds.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(folds, ec)) throw IoError(error_message(folds.string(), "folds file not found (--folds)"));
  }
  inference.validate();
}

AskResult run_ask(const AskConfig& config) {
  config.validate();
  const auto start = std::chrono::steady_clock::now();
  const ProbeSet set = load_probeset(config.probeset);
  const std::size_t n = set.samples.size();
  std::vector<int> labels;
  for (const ProbeSample& s : set.samples) labels.push_back(s.label);
  // Folds first: a probe set they cannot split is refused before any model work.
  const FoldSource folds = membership_folds(config, set, labels);

  const std::vector<std::string> candidates = set.candidate_usernames();
  std::map<std::string, std::size_t> candidate_index;
  for (std::size_t c = 0; c < candidates.size(); ++c) candidate_index.emplace(candidates[c], c);

  InferenceModel m = open_inference_model(config.model, config.inference);
  const TokenizedInputs prompt = m.question(set.question, true);
  std::vector<std::vector<std::int64_t>> candidate_tokens;
  for (const std::string& name : candidates) candidate_tokens.push_back(answer_tokens(m, set.question, true, name));

  std::vector<std::string> answers(n);
  std::vector<double> logp_watermarked(n), logp_clean(n), ranks(n), exposures(n);
  std::map<std::string, std::vector<std::size_t>> by_clean_image;    // clean image -> its samples
  for (std::size_t i = 0; i < n; ++i) by_clean_image[set.samples[i].clean_path.generic_string()].push_back(i);
  std::map<std::string, std::map<std::string, double>> clean_scores;  // clean image -> username -> log p
  torch::NoGradGuard no_grad;
  Progress progress("ask", n);
  for (std::size_t first = 0; first < n; first += static_cast<std::size_t>(config.batch_size)) {
    const std::size_t last = std::min(n, first + static_cast<std::size_t>(config.batch_size));
    std::vector<BatchRow> rows;
    for (std::size_t i = first; i < last; ++i) rows.push_back({&prompt, m.image(set.samples[i].image_path)});
    const std::vector<std::string> generated = generate_answers(m, rows, config.max_new_tokens);
    for (std::size_t i = first; i < last; ++i) {
      const ProbeSample& s = set.samples[i];
      answers[i] = generated[i - first];
      const std::vector<double> scores = score_answers(m, prompt.input_ids, rows[i - first].image, candidate_tokens, config.batch_size);
      const std::size_t truth = candidate_index.at(s.username);
      logp_watermarked[i] = scores[truth];
      ranks[i] = candidate_rank(scores, truth);
      exposures[i] = exposure(ranks[i], candidates.size());

      // A clean image is scored once, for every username drawn on its watermarked copies.
      auto& image_scores = clean_scores[s.clean_path.generic_string()];
      if (!image_scores.count(s.username)) {
        std::vector<std::string> names;
        std::vector<std::vector<std::int64_t>> tokens;
        for (std::size_t j : by_clean_image.at(s.clean_path.generic_string())) {
          const std::string& name = set.samples[j].username;
          if (image_scores.count(name) || std::find(names.begin(), names.end(), name) != names.end()) continue;
          names.push_back(name);
          tokens.push_back(candidate_tokens[candidate_index.at(name)]);
        }
        const std::vector<double> clean = score_answers(m, prompt.input_ids, m.image(s.clean_path), tokens, config.batch_size);
        for (std::size_t k = 0; k < names.size(); ++k) image_scores[names[k]] = clean[k];
      }
      logp_clean[i] = image_scores.at(s.username);
    }
    progress.tick(last - first);
  }
  progress.finish();

  std::vector<double> calibrated(n);
  for (std::size_t i = 0; i < n; ++i) calibrated[i] = logp_watermarked[i] - logp_clean[i];
  const std::string where = config.probeset.string();
  const MembershipResult calibrated_result = evaluate_membership(calibrated, labels, folds.plan, where);
  const MembershipResult raw_result = evaluate_membership(logp_watermarked, labels, folds.plan, where);

  AskResult result;
  result.samples = n;
  result.candidates = candidates.size();
  std::vector<double> contains(n);
  json samples = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    const ProbeSample& s = set.samples[i];
    contains[i] = answer_contains(answers[i], s.username) ? 1.0 : 0.0;
    samples.push_back({{"index", i},
                       {"image", s.image},
                       {"label", s.label},
                       {"group", s.group},
                       {"profile_index", s.profile_index},
                       {"username", s.username},
                       {"answer", answers[i]},
                       {"contains", contains[i] > 0},
                       {"logp_watermarked", logp_watermarked[i]},
                       {"logp_clean", logp_clean[i]},
                       {"calibrated", calibrated[i]},
                       {"rank", ranks[i]},
                       {"exposure", exposures[i]}});
  }
  result.contains_rate = mean_of(contains, labels, -1);
  result.calibrated_accuracy = calibrated_result.accuracy;
  result.calibrated_auc = calibrated_result.auc;
  result.uncalibrated_accuracy = raw_result.accuracy;
  result.uncalibrated_auc = raw_result.auc;
  result.exposure_seen = mean_of(exposures, labels, 1);
  result.exposure_unseen = mean_of(exposures, labels, 0);

  json doc = {
      {"format_version", kFormatVersion},
      {"checkpoint", path_string(config.model)},
      {"checkpoint_fingerprint", m.fingerprint},
      {"probeset", path_string(config.probeset)},
      {"probeset_sha256", set.sha256},
      {"question", set.question},
      {"template", m.chat.name},
      {"dtype", config.inference.dtype},
      {"max_new_tokens", config.max_new_tokens},
      {"samples_total", n},
      {"generation",
       {{"contains_rate", result.contains_rate},
        {"contains_rate_seen", mean_of(contains, labels, 1)},
        {"contains_rate_unseen", mean_of(contains, labels, 0)},
        {"rule", "the greedy answer contains the true username, ignoring case"}}},
      {"membership",
       {{"folds", folds.description},
        {"calibrated", membership_json(calibrated_result,
                                       "log p(username | watermarked image) - log p(username | clean image)", nullptr)},
        {"uncalibrated",
         membership_json(raw_result, "log p(username | watermarked image)",
                         "uncalibrated: the raw likelihood carries the model's prior on each name string, so it can "
                         "separate the sets without any memorisation (compare the base model)")},
        {"rule", "score >= threshold means seen; threshold chosen on each training fold"}}},
      {"exposure",
       {{"candidates", candidates.size()},
        {"max", std::log2(static_cast<double>(candidates.size()))},
        {"mean", mean_of(exposures, labels, -1)},
        {"seen", result.exposure_seen},
        {"unseen", result.exposure_unseen},
        {"rank_ties", "mean rank of the tied candidates"}}},
      {"samples", std::move(samples)}};
  write_json_atomic(config.out / "ask.json", doc);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_json_atomic(config.out / "ask_timing.json", {{"format_version", kFormatVersion},
                                                     {"seconds", seconds},
                                                     {"samples", n},
                                                     {"device", config.inference.device},
                                                     {"threads", config.inference.threads}});
  spdlog::info("ask: {} samples, {} candidates in {:.2f} s", n, candidates.size(), seconds);
  return result;
}

}  // namespace privprobe
