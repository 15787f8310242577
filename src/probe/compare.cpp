#include "probe/compare.h"

#include <string>

#include "probe/probe_stats.h"
#include "util/error.h"
#include "util/rng.h"

namespace privprobe {
namespace {

template <typename T>
void require_equal(const std::vector<T>& a, const std::vector<T>& b, const std::string& what, const ActivationSet& base,
                   const ActivationSet& tuned) {
  const std::string where = base.source + " vs " + tuned.source;
  if (a.empty() != b.empty()) {
    throw DataError(error_message(where, "only " + (a.empty() ? tuned.source : base.source) + " has " + what,
                                  "compare activations extracted from the same probe set"));
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) {
      throw DataError(error_message(where, what + " differ at sample " + std::to_string(i) + " (" + std::to_string(a[i]) +
                                               " vs " + std::to_string(b[i]) + ")",
                                    "compare activations extracted from the same probe set, in the same order"));
    }
  }
}

}  // namespace

void check_same_samples(const ActivationSet& base, const ActivationSet& tuned, ProbeGroupBy group_by) {
  const std::string where = base.source + " vs " + tuned.source;
  if (base.samples != tuned.samples) {
    throw DataError(error_message(where, "different numbers of samples (" + std::to_string(base.samples) + " vs " +
                                             std::to_string(tuned.samples) + ")",
                                  "compare activations extracted from the same probe set"));
  }
  if (base.layers != tuned.layers) {
    throw DataError(error_message(where, "different numbers of layers (" + std::to_string(base.layers) + " vs " +
                                             std::to_string(tuned.layers) + ")",
                                  "compare a fine-tuned model with its own base model"));
  }
  require_equal(base.labels, tuned.labels, "labels", base, tuned);
  require_equal(base.groups, tuned.groups, "groups", base, tuned);
  if (group_by == ProbeGroupBy::kProfile || (!base.profiles.empty() && !tuned.profiles.empty())) {
    require_equal(base.profiles, tuned.profiles, "profiles", base, tuned);
  }
}

CompareResult run_compare(const ActivationSet& base, const ActivationSet& tuned, const ProbeConfig& config,
                          const FoldPlan* folds) {
  config.validate();
  check_activation_set(base);
  check_activation_set(tuned);
  check_same_samples(base, tuned, config.group_by);
  const FoldPlan plan = folds ? *folds : make_probe_folds(base, config);

  CompareResult result;
  result.base = run_probe(base, config, &plan);
  result.tuned = run_probe(tuned, config, &plan);
  std::vector<double> p_values;
  const std::vector<double>& weight = result.base.sample_weight;
  const std::vector<std::int64_t>& group = result.base.group_index;
  for (std::size_t li = 0; li < result.base.layers.size(); ++li) {
    const LayerProbeResult& b = result.base.layers[li];
    const LayerProbeResult& t = result.tuned.layers[li];
    LayerComparison comparison;
    comparison.layer = b.layer;
    comparison.base_accuracy = b.accuracy;
    comparison.tuned_accuracy = t.accuracy;
    comparison.difference = t.accuracy - b.accuracy;
    comparison.base_control = b.control;
    comparison.tuned_control = t.control;

    // Per sample: correct tests of the tuned model minus those of the base model.
    std::vector<double> change(weight.size());
    double total_weight = 0;
    for (std::size_t i = 0; i < weight.size(); ++i) {
      change[i] = weight[i] * (result.tuned.sample_accuracy[li][i] - result.base.sample_accuracy[li][i]);
      total_weight += weight[i];
    }
    const std::uint64_t layer_seed = derive_seed(config.seed, "probe/compare/layer/" + std::to_string(b.layer));
    const Interval interval = bootstrap_ratio_interval(change, weight, group, config.bootstrap, 0.95, layer_seed);
    comparison.ci_low = interval.low;
    comparison.ci_high = interval.high;
    std::vector<double> per_group(weight.size(), 0.0);
    for (std::size_t i = 0; i < weight.size(); ++i) {
      per_group[static_cast<std::size_t>(group[i])] += change[i] / total_weight;
    }
    comparison.p_value = sign_flip_p_value(per_group, config.permutations, derive_seed(layer_seed, "permutation"));
    p_values.push_back(comparison.p_value);
    result.layers.push_back(comparison);
  }
  const std::vector<double> adjusted = holm_adjust(p_values);
  for (std::size_t li = 0; li < result.layers.size(); ++li) result.layers[li].p_holm = adjusted[li];
  return result;
}

}  // namespace privprobe
