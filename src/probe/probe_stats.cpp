#include "probe/probe_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "util/rng.h"

namespace privprobe {

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  // Sum of the (mid-)ranks of the positives.
  double rank_sum = 0;
  double positives = 0;
  for (std::size_t start = 0; start < order.size();) {
    std::size_t end = start;
    while (end < order.size() && scores[order[end]] == scores[order[start]]) ++end;
    const double mid_rank = 0.5 * static_cast<double>(start + 1 + end);  // ranks start..end-1, 1-based
    for (std::size_t j = start; j < end; ++j) {
      if (labels[order[j]] == 1) {
        rank_sum += mid_rank;
        positives += 1;
      }
    }
    start = end;
  }
  const double negatives = static_cast<double>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

std::vector<std::int64_t> dense_group_index(const std::vector<std::int64_t>& groups) {
  std::map<std::int64_t, std::int64_t> index;
  std::vector<std::int64_t> dense(groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    dense[i] = index.emplace(groups[i], static_cast<std::int64_t>(index.size())).first->second;
  }
  return dense;
}

namespace {

double quantile_sorted(const std::vector<double>& sorted, double q) {
  // Linear interpolation between order statistics (numpy's default).
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  const double t = position - static_cast<double>(below);
  return sorted[below] * (1 - t) + sorted[above] * t;
}

}  // namespace

Interval bootstrap_ratio_interval(const std::vector<double>& value, const std::vector<double>& weight,
                                  const std::vector<std::int64_t>& group, int resamples, double level,
                                  std::uint64_t seed) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Per-group sums over the samples that were tested.
  std::vector<std::int64_t> remap(group.size() + 1, -1);
  std::vector<double> group_value, group_weight;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (weight[i] <= 0) continue;
    auto& slot = remap[static_cast<std::size_t>(group[i])];
    if (slot < 0) {
      slot = static_cast<std::int64_t>(group_value.size());
      group_value.push_back(0);
      group_weight.push_back(0);
    }
    group_value[static_cast<std::size_t>(slot)] += value[i];
    group_weight[static_cast<std::size_t>(slot)] += weight[i];
  }
  if (resamples <= 0 || group_value.empty()) return {nan, nan};
  Rng rng(seed);
  const std::size_t g = group_value.size();
  std::vector<double> stats;
  stats.reserve(static_cast<std::size_t>(resamples));
  for (int b = 0; b < resamples; ++b) {
    double v = 0, w = 0;
    for (std::size_t j = 0; j < g; ++j) {
      const auto pick = static_cast<std::size_t>(rng.below(g));
      v += group_value[pick];
      w += group_weight[pick];
    }
    stats.push_back(w > 0 ? v / w : nan);
  }
  std::sort(stats.begin(), stats.end());
  const double alpha = (1 - level) / 2;
  return {quantile_sorted(stats, alpha), quantile_sorted(stats, 1 - alpha)};
}

double sign_flip_p_value(const std::vector<double>& group_differences, int permutations, std::uint64_t seed) {
  const double observed = std::abs(std::accumulate(group_differences.begin(), group_differences.end(), 0.0));
  // A relative slack so that flips giving the observed sum up to rounding count as "as extreme".
  const double slack = 1e-9 * (1 + observed);
  Rng rng(seed);
  std::int64_t extreme = 0;
  for (int b = 0; b < permutations; ++b) {
    double sum = 0;
    std::uint64_t bits = 0;
    for (std::size_t j = 0; j < group_differences.size(); ++j) {
      if (j % 64 == 0) bits = rng.next_u64();
      sum += (bits & 1u) ? group_differences[j] : -group_differences[j];
      bits >>= 1;
    }
    if (std::abs(sum) >= observed - slack) ++extreme;
  }
  return static_cast<double>(1 + extreme) / static_cast<double>(1 + permutations);
}

std::vector<double> holm_adjust(const std::vector<double>& p_values) {
  const std::size_t m = p_values.size();
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p_values[a] < p_values[b]; });
  std::vector<double> adjusted(m);
  double running = 0;
  for (std::size_t rank = 0; rank < m; ++rank) {
    const std::size_t i = order[rank];
    running = std::max(running, std::min(1.0, static_cast<double>(m - rank) * p_values[i]));
    adjusted[i] = running;
  }
  return adjusted;
}

}  // namespace privprobe
