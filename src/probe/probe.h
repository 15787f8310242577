// `privprobe probe`: one logistic-regression probe per layer, cross-validated, with a
// permuted-label control, bootstrap intervals and AUC (definitions: ../shared/DESIGN.md,
// "Measurements"). Tensors and structs in, structs out: files are read and written by
// probe_output.h.
//
// Figures per layer, all on out-of-fold predictions:
//   accuracy     mean over repeats of the fraction of tested samples classified correctly
//                (pooled over the folds of a repeat, i.e. the mean over folds weighted by size)
//   ci_low/high  95 % percentile bootstrap of that accuracy, resampling groups with replacement
//   auc          mean over repeats of the ROC AUC of the pooled decision values
//   control      accuracy of the same probe on permuted labels (see control.h); NaN when off
//   selectivity  accuracy - control
//   n            samples tested at least once
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "probe/activations.h"
#include "probe/folds.h"
#include "probe/probe_config.h"

namespace privprobe {

struct LayerProbeResult {
  int layer = 0;
  double accuracy = 0;
  double ci_low = 0;
  double ci_high = 0;
  double auc = 0;
  double control = 0;      // NaN without a control
  double selectivity = 0;  // NaN without a control
  std::int64_t n = 0;
  int max_iterations = 0;   // solver diagnostics, not part of the outputs' columns
  int unconverged_fits = 0;
};

struct ProbeResult {
  std::string source;
  ProbeConfig config;
  FoldPlan folds;
  std::vector<LayerProbeResult> layers;
  int best_layer = -1;  // the layer with the highest accuracy (the first of equals)
  // For comparisons between models: per layer, each sample's correctness averaged over the
  // repeats that tested it; per sample, how many repeats did; the dense group of each sample.
  std::vector<std::vector<double>> sample_accuracy;
  std::vector<double> sample_weight;
  std::vector<std::int64_t> group_index;
  std::vector<std::string> warnings;
};

// Samples joined when they share a profile or an image (`groups`, when given as one per sample):
// dense component ids in order of first appearance. Grouping by these keeps a paired probe set's
// U1 copy and U2 twin of one image, and every image of a profile, on the same side of a split.
std::vector<std::int64_t> profile_and_image_components(const std::vector<std::int64_t>& profiles,
                                                       const std::vector<std::int64_t>& groups);

// The group of each sample for config.group_by: the file's groups (one per sample when absent),
// or the profile-and-image components (DataError naming the source when it has no profiles).
std::vector<std::int64_t> probe_groups(const ActivationSet& set, ProbeGroupBy group_by);

// The folds run_probe would make for this set and config.
FoldPlan make_probe_folds(const ActivationSet& set, const ProbeConfig& config);

// Runs every probe. `folds`: reuse these (checked against the set) instead of making new ones.
// Throws ConfigError (config) or DataError naming set.source (unusable data).
ProbeResult run_probe(const ActivationSet& set, const ProbeConfig& config, const FoldPlan* folds = nullptr);

}  // namespace privprobe
