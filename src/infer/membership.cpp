#include "infer/membership.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "probe/probe_stats.h"
#include "util/error.h"

namespace privprobe {
namespace {

// A threshold strictly between a < b that stays finite when either end is infinite.
double between(double a, double b) {
  if (std::isfinite(a) && std::isfinite(b)) return a + (b - a) / 2;
  if (std::isfinite(b)) return b - 1.0;
  if (std::isfinite(a)) return a + 1.0;
  return 0.0;
}

}  // namespace

double choose_threshold(const std::vector<double>& scores, const std::vector<int>& labels,
                        const std::vector<std::int64_t>& train, const std::string& where) {
  std::vector<std::pair<double, int>> points;
  points.reserve(train.size());
  std::int64_t positives = 0;
  for (std::int64_t i : train) {
    const double s = scores[static_cast<std::size_t>(i)];
    if (std::isnan(s)) throw DataError(error_message(where, "sample " + std::to_string(i) + " has a NaN score"));
    points.emplace_back(s, labels[static_cast<std::size_t>(i)]);
    positives += labels[static_cast<std::size_t>(i)];
  }
  std::sort(points.begin(), points.end());
  // Threshold below everything: all predicted seen, so correct = positives.
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double best_threshold = points.empty() ? 0.0 : std::isinf(points.front().first) ? points.front().first
                                                                                  : points.front().first - 1.0;
  std::int64_t correct = positives, best = positives;
  for (std::size_t k = 0; k < points.size(); ++k) {
    // Moving the threshold above points[k]: it becomes "unseen".
    correct += points[k].second == 1 ? -1 : 1;
    if (k + 1 < points.size() && points[k + 1].first == points[k].first) continue;
    if (correct > best) {
      best = correct;
      best_threshold = between(points[k].first,
                               k + 1 < points.size() ? points[k + 1].first : kInf);
    }
  }
  return best_threshold;
}

MembershipResult evaluate_membership(const std::vector<double>& scores, const std::vector<int>& labels,
                                     const FoldPlan& plan, const std::string& where) {
  check_fold_plan(plan, labels, where);
  MembershipResult result;
  double auc_sum = 0;
  std::size_t auc_count = 0;
  const std::size_t n = labels.size();
  for (std::size_t r = 0; r < plan.repeats.size(); ++r) {
    for (std::size_t k = 0; k < plan.repeats[r].size(); ++k) {
      const auto& test = plan.repeats[r][k];
      std::vector<bool> in_test(n, false);
      for (std::int64_t i : test) in_test[static_cast<std::size_t>(i)] = true;
      std::vector<std::int64_t> train;
      for (std::size_t i = 0; i < n; ++i) {
        if (!in_test[i]) train.push_back(static_cast<std::int64_t>(i));
      }
      MembershipFold fold{r, k, choose_threshold(scores, labels, train, where), 0, 0};
      std::vector<double> test_scores;
      std::vector<int> test_labels;
      std::size_t correct = 0;
      for (std::int64_t i : test) {
        const auto u = static_cast<std::size_t>(i);
        correct += (scores[u] >= fold.threshold ? 1 : 0) == labels[u];
        test_scores.push_back(scores[u]);
        test_labels.push_back(labels[u]);
      }
      fold.accuracy = static_cast<double>(correct) / static_cast<double>(test.size());
      fold.auc = roc_auc(test_scores, test_labels);
      if (!std::isnan(fold.auc)) {
        auc_sum += fold.auc;
        ++auc_count;
      }
      result.accuracy += fold.accuracy;
      result.folds.push_back(fold);
    }
  }
  result.accuracy /= static_cast<double>(result.folds.size());
  result.auc = auc_count > 0 ? auc_sum / static_cast<double>(auc_count) : std::nan("");
  return result;
}

double candidate_rank(const std::vector<double>& scores, std::size_t truth) {
  const double t = scores.at(truth);
  std::size_t greater = 0, tied = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (i == truth) continue;
    if (scores[i] > t) ++greater;
    else if (scores[i] == t) ++tied;
  }
  return 1.0 + static_cast<double>(greater) + static_cast<double>(tied) / 2.0;
}

bool answer_contains(const std::string& answer, const std::string& username) {
  const auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return s;
  };
  return !username.empty() && lower(answer).find(lower(username)) != std::string::npos;
}

double exposure(double rank, std::size_t candidates) {
  return std::log2(static_cast<double>(candidates)) - std::log2(rank);
}

}  // namespace privprobe
