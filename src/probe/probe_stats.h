// Statistics of the probes, on out-of-fold predictions: ROC AUC, a bootstrap interval over groups,
// a paired permutation test over groups and Holm's correction for many layers.
#pragma once

#include <cstdint>
#include <vector>

namespace privprobe {

// Area under the ROC curve of scores for labels (0/1), ties counted one half (Mann-Whitney).
// NaN when a class is absent.
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

// Dense group indices 0..G-1 in order of first appearance.
std::vector<std::int64_t> dense_group_index(const std::vector<std::int64_t>& groups);

struct Interval {
  double low = 0;
  double high = 0;
};

// Percentile bootstrap interval of sum(value) / sum(weight) over samples, resampling whole groups
// with replacement. value[i] and weight[i] belong to sample i, group[i] is a dense index; samples
// with weight 0 (never tested) take no part. NaNs for resamples == 0 or no weighted sample.
Interval bootstrap_ratio_interval(const std::vector<double>& value, const std::vector<double>& weight,
                                  const std::vector<std::int64_t>& group, int resamples, double level,
                                  std::uint64_t seed);

// Two-sided p-value of sum(d) under random sign flips of the per-group differences d (paired
// permutation test; exchangeable when the two conditions are equally good within each group):
// (1 + #{|flipped sum| >= |observed sum|}) / (1 + permutations).
double sign_flip_p_value(const std::vector<double>& group_differences, int permutations, std::uint64_t seed);

// Holm-Bonferroni adjusted p-values, in the input order (monotone, capped at 1).
std::vector<double> holm_adjust(const std::vector<double>& p_values);

}  // namespace privprobe
