#include "probe/probe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "probe/control.h"
#include "probe/probe_fit.h"
#include "probe/probe_stats.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/rng.h"

namespace privprobe {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kControlDraws = 100;

std::vector<int> selected_layers(const ActivationSet& set, const ProbeConfig& config) {
  std::vector<int> layers = config.layers;
  if (layers.empty()) {
    layers.resize(static_cast<std::size_t>(set.layers));
    std::iota(layers.begin(), layers.end(), 0);
  }
  for (int layer : layers) {
    if (layer >= set.layers) {
      throw DataError(error_message(set.source, "layer " + std::to_string(layer) + " requested, but the states have " +
                                                    std::to_string(set.layers) + " layers (0.." +
                                                    std::to_string(set.layers - 1) + ")"));
    }
  }
  return layers;
}

// True when every training set of the repeat holds both classes under these labels.
bool trainable(const std::vector<int>& labels, const std::vector<std::vector<std::int64_t>>& folds) {
  std::int64_t total[2] = {0, 0};
  for (int label : labels) ++total[label];
  for (const auto& test : folds) {
    std::int64_t in_test[2] = {0, 0};
    for (std::int64_t i : test) ++in_test[labels[static_cast<std::size_t>(i)]];
    if (total[0] == in_test[0] || total[1] == in_test[1]) return false;
  }
  return true;
}

// Permuted labels for each repeat; redrawn (deterministically) until every training set keeps
// both classes, which a permutation of unequal groups can break.
std::vector<std::vector<int>> control_tracks(const ActivationSet& set, const std::vector<std::int64_t>& groups,
                                             const FoldPlan& folds, std::uint64_t seed) {
  std::vector<std::vector<int>> tracks;
  for (std::size_t r = 0; r < folds.repeats.size(); ++r) {
    bool found = false;
    for (int draw = 0; draw < kControlDraws && !found; ++draw) {
      std::vector<int> labels = permuted_control_labels(
          set.labels, groups, derive_seed(seed, "probe/control/repeat/" + std::to_string(r) + "/" + std::to_string(draw)));
      if (trainable(labels, folds.repeats[r])) {
        tracks.push_back(std::move(labels));
        found = true;
      }
    }
    if (!found) {
      throw DataError(error_message(set.source, "no permutation of the labels leaves both classes in every training set",
                                    "use fewer --folds, or turn the control off"));
    }
  }
  return tracks;
}

struct TrackFigures {
  double accuracy = kNaN;
  double auc = kNaN;
  std::vector<double> sample_accuracy;  // per sample, over the repeats that tested it
};

TrackFigures track_figures(const ProbeFitOutput& fit, std::size_t layer_index, std::int64_t track,
                           const std::vector<std::vector<int>>& labels_per_repeat, std::vector<double>& weight) {
  TrackFigures figures;
  const std::int64_t n = fit.samples;
  figures.sample_accuracy.assign(static_cast<std::size_t>(n), 0.0);
  weight.assign(static_cast<std::size_t>(n), 0.0);
  double accuracy_sum = 0, auc_sum = 0;
  int auc_count = 0;
  for (std::int64_t r = 0; r < fit.repeats; ++r) {
    const auto& labels = labels_per_repeat[static_cast<std::size_t>(r)];
    std::vector<double> scores;
    std::vector<int> tested_labels;
    double correct = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double score = fit.score(layer_index, track, r, i);
      if (std::isnan(score)) continue;
      const int label = labels[static_cast<std::size_t>(i)];
      const double hit = ((score > 0) == (label == 1)) ? 1.0 : 0.0;  // scikit-learn: class 1 iff decision > 0
      correct += hit;
      figures.sample_accuracy[static_cast<std::size_t>(i)] += hit;
      weight[static_cast<std::size_t>(i)] += 1;
      scores.push_back(score);
      tested_labels.push_back(label);
    }
    accuracy_sum += correct / static_cast<double>(scores.size());
    const double auc = roc_auc(scores, tested_labels);
    if (!std::isnan(auc)) {
      auc_sum += auc;
      ++auc_count;
    }
  }
  for (std::size_t i = 0; i < weight.size(); ++i) {
    if (weight[i] > 0) figures.sample_accuracy[i] /= weight[i];
  }
  figures.accuracy = accuracy_sum / static_cast<double>(fit.repeats);
  figures.auc = auc_count > 0 ? auc_sum / auc_count : kNaN;
  return figures;
}

}  // namespace

std::vector<std::int64_t> profile_and_image_components(const std::vector<std::int64_t>& profiles,
                                                       const std::vector<std::int64_t>& groups) {
  const std::size_t n = profiles.size();
  std::vector<std::size_t> parent(n);
  std::iota(parent.begin(), parent.end(), std::size_t{0});
  const auto find = [&parent](std::size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  const auto join_by = [&](const std::vector<std::int64_t>& keys) {
    std::map<std::int64_t, std::size_t> first;
    for (std::size_t i = 0; i < keys.size() && i < n; ++i) {
      const auto [it, inserted] = first.emplace(keys[i], i);
      if (!inserted) {
        const std::size_t a = find(i), b = find(it->second);
        if (a != b) parent[std::max(a, b)] = std::min(a, b);
      }
    }
  };
  join_by(profiles);
  if (groups.size() == n) join_by(groups);
  // Dense ids in order of first appearance, so the folds do not depend on how ids were numbered.
  std::map<std::size_t, std::int64_t> dense;
  std::vector<std::int64_t> component(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto [it, inserted] = dense.emplace(find(i), static_cast<std::int64_t>(dense.size()));
    component[i] = it->second;
  }
  return component;
}

std::vector<std::int64_t> probe_groups(const ActivationSet& set, ProbeGroupBy group_by) {
  if (group_by == ProbeGroupBy::kProfile) {
    if (set.profiles.empty()) {
      throw DataError(error_message(set.source, "--group-by profile needs a tensor 'profiles' [N], and there is none",
                                    "extract from a probe set that records profiles, or use --group-by image"));
    }
    // A paired probe set shows each base image twice (a U1 profile and its U2 twin): grouping by
    // profile alone would test a scene the probe was trained on with the other label, pushing
    // accuracy below chance. So the groups are the connected sets of profiles and images: no
    // profile and no image is ever on both sides of a split.
    return profile_and_image_components(set.profiles, set.groups);
  }
  if (!set.groups.empty()) return set.groups;
  std::vector<std::int64_t> groups(static_cast<std::size_t>(set.samples));
  std::iota(groups.begin(), groups.end(), std::int64_t{0});
  return groups;
}

FoldPlan make_probe_folds(const ActivationSet& set, const ProbeConfig& config) {
  if (config.split == ProbeSplit::kPaper) {
    return make_stratified_split(set.labels, kPaperTestFraction, kPaperSplitSeed, set.source);
  }
  FoldPlan plan = make_group_kfold(set.labels, probe_groups(set, config.group_by), config.folds, config.repeats,
                                   config.seed, set.source);
  plan.group_by = probe_group_by_name(config.group_by);
  return plan;
}

ProbeResult run_probe(const ActivationSet& set, const ProbeConfig& config, const FoldPlan* folds) {
  config.validate();
  check_activation_set(set);
  const std::vector<int> layers = selected_layers(set, config);
  const std::vector<std::int64_t> groups = probe_groups(set, config.group_by);

  ProbeResult result;
  result.source = set.source;
  result.config = config;
  if (folds) {
    check_fold_plan(*folds, set.labels, set.source);
    result.folds = *folds;
    const SplitGroup split = find_split_group(*folds, groups);
    if (split.found && config.split != ProbeSplit::kPaper) {
      result.warnings.push_back("the given folds put group " + std::to_string(split.group) + " on both sides of repeat " +
                                std::to_string(split.repeat) + ", fold " + std::to_string(split.fold));
    }
  } else {
    result.folds = make_probe_folds(set, config);
  }

  ProbeFitInput input;
  input.layers = layers;
  input.folds = &result.folds;
  const std::size_t repeats = result.folds.repeats.size();
  input.tracks.push_back(std::vector<std::vector<int>>(repeats, set.labels));
  if (config.control) input.tracks.push_back(control_tracks(set, groups, result.folds, config.seed));
  input.standardize = config.split != ProbeSplit::kPaper;
  input.C = config.C;
  input.tolerance = config.tolerance;
  input.max_iterations = config.max_iterations;
  input.seed = config.seed;
  Progress progress("probe", layers.size(), progress_enabled_by_default());
  input.on_progress = [&](std::size_t done) { progress.set(done); };
  const ProbeFitOutput fit = fit_probes(set, input);
  progress.finish();

  result.group_index = dense_group_index(groups);
  std::size_t best = 0;
  for (std::size_t li = 0; li < layers.size(); ++li) {
    LayerProbeResult layer;
    layer.layer = layers[li];
    std::vector<double> weight;
    TrackFigures real = track_figures(fit, li, 0, input.tracks[0], weight);
    layer.accuracy = real.accuracy;
    layer.auc = real.auc;
    std::vector<double> correct(weight.size());
    for (std::size_t i = 0; i < weight.size(); ++i) correct[i] = real.sample_accuracy[i] * weight[i];
    const Interval interval = bootstrap_ratio_interval(
        correct, weight, result.group_index, config.bootstrap, 0.95,
        derive_seed(config.seed, "probe/bootstrap/layer/" + std::to_string(layer.layer)));
    layer.ci_low = interval.low;
    layer.ci_high = interval.high;
    layer.n = static_cast<std::int64_t>(std::count_if(weight.begin(), weight.end(), [](double w) { return w > 0; }));
    layer.control = kNaN;
    layer.selectivity = kNaN;
    if (config.control) {
      std::vector<double> control_weight;
      layer.control = track_figures(fit, li, 1, input.tracks[1], control_weight).accuracy;
      layer.selectivity = layer.accuracy - layer.control;
    }
    layer.max_iterations = fit.max_iterations[li];
    layer.unconverged_fits = fit.unconverged_fits[li];
    if (layer.unconverged_fits > 0) {
      result.warnings.push_back("layer " + std::to_string(layer.layer) + ": " + std::to_string(layer.unconverged_fits) +
                                " fit(s) stopped before reaching the tolerance");
    }
    if (li == 0 || layer.accuracy > result.layers[best].accuracy) best = li;
    result.sample_accuracy.push_back(std::move(real.sample_accuracy));
    if (li == 0) result.sample_weight = weight;
    result.layers.push_back(layer);
  }
  if (!result.layers.empty()) result.best_layer = result.layers[best].layer;
  for (const std::string& warning : result.warnings) spdlog::warn("{}: {}", set.source, warning);
  return result;
}

}  // namespace privprobe
