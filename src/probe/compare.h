// `privprobe probe --compare BASE TUNED`: the effect of fine-tuning is the difference between two
// models' probes on the same probe set, not either raw accuracy (../shared/SCIENCE-NOTES.md).
// Both sets must hold the same samples in the same order (labels, groups, profiles equal); both
// are probed on the same folds. Per layer:
//   difference   tuned accuracy - base accuracy
//   ci_low/high  95 % bootstrap of the difference over groups (paired: a group's samples carry
//                both models' predictions)
//   p_value      paired permutation test: under "the models' probes are equally good", which of
//                the two models a group's out-of-fold correctness came from is exchangeable, so
//                the per-group differences get random signs; two-sided
//   p_holm       Holm's correction over the layers compared
#pragma once

#include <string>
#include <vector>

#include "probe/probe.h"

namespace privprobe {

struct LayerComparison {
  int layer = 0;
  double base_accuracy = 0;
  double tuned_accuracy = 0;
  double difference = 0;
  double ci_low = 0;
  double ci_high = 0;
  double p_value = 1;
  double p_holm = 1;
  double base_control = 0;   // NaN without a control
  double tuned_control = 0;
};

struct CompareResult {
  ProbeResult base;
  ProbeResult tuned;
  std::vector<LayerComparison> layers;
};

// Throws DataError naming both sources when the sets do not hold the same samples.
void check_same_samples(const ActivationSet& base, const ActivationSet& tuned, ProbeGroupBy group_by);

CompareResult run_compare(const ActivationSet& base, const ActivationSet& tuned, const ProbeConfig& config,
                          const FoldPlan* folds = nullptr);

}  // namespace privprobe
