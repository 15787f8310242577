#include "probe/folds.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <numeric>

#include "util/error.h"
#include "util/json_io.h"
#include "util/rng.h"

namespace privprobe {

std::size_t FoldPlan::fold_count() const {
  std::size_t count = 0;
  for (const auto& repeat : repeats) count += repeat.size();
  return count;
}

namespace {

struct GroupInfo {
  std::int64_t id = 0;
  std::vector<std::int64_t> members;
  std::int64_t count[2] = {0, 0};
};

std::vector<GroupInfo> collect_groups(const std::vector<int>& labels, const std::vector<std::int64_t>& groups) {
  std::map<std::int64_t, std::size_t> index;
  std::vector<GroupInfo> infos;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto [it, inserted] = index.emplace(groups[i], infos.size());
    if (inserted) infos.push_back(GroupInfo{groups[i], {}, {0, 0}});
    GroupInfo& info = infos[it->second];
    info.members.push_back(static_cast<std::int64_t>(i));
    ++info.count[labels[i]];
  }
  return infos;
}

const char* class_name(int label) { return label == 1 ? "1 (seen)" : "0 (unseen)"; }

}  // namespace

FoldPlan make_group_kfold(const std::vector<int>& labels, const std::vector<std::int64_t>& groups, int folds,
                          int repeats, std::uint64_t seed, const std::string& where) {
  if (groups.size() != labels.size()) {
    throw DataError(error_message(where, "groups and labels differ in length"));
  }
  const std::vector<GroupInfo> infos = collect_groups(labels, groups);
  const bool singletons = infos.size() == labels.size();
  std::int64_t total[2] = {0, 0};
  std::int64_t groups_with[2] = {0, 0};
  for (const GroupInfo& info : infos) {
    for (int c = 0; c < 2; ++c) {
      total[c] += info.count[c];
      if (info.count[c] > 0) ++groups_with[c];
    }
  }
  for (int c = 0; c < 2; ++c) {
    if (total[c] == 0) {
      throw DataError(error_message(where, std::string("labels hold one class only: no sample of class ") + class_name(c),
                                    "a probe needs seen and unseen samples"));
    }
    if (groups_with[c] < folds) {
      throw DataError(error_message(
          where,
          std::string("class ") + class_name(c) + " occurs in " + std::to_string(groups_with[c]) +
              (singletons ? " samples" : " groups") + ", fewer than the " + std::to_string(folds) + " folds",
          "use fewer --folds or more samples"));
    }
  }

  FoldPlan plan;
  plan.split = "kfold";
  plan.seed = seed;
  plan.samples = static_cast<std::int64_t>(labels.size());
  const double target[2] = {static_cast<double>(total[0]) / folds, static_cast<double>(total[1]) / folds};
  for (int r = 0; r < repeats; ++r) {
    Rng rng(derive_seed(seed, "probe/folds/repeat/" + std::to_string(r)));
    std::vector<std::size_t> order(infos.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    rng.shuffle(order);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return infos[a].members.size() > infos[b].members.size();
    });
    std::vector<std::array<std::int64_t, 2>> counts(static_cast<std::size_t>(folds), {0, 0});
    std::vector<std::vector<std::int64_t>> tests(static_cast<std::size_t>(folds));
    for (std::size_t g : order) {
      const GroupInfo& info = infos[g];
      std::size_t best = 0;
      double best_cost = 0;
      std::int64_t best_size = 0;
      for (std::size_t k = 0; k < counts.size(); ++k) {
        // Growth of the squared distance of this fold's class counts from their targets.
        double cost = 0;
        for (int c = 0; c < 2; ++c) {
          const double before = static_cast<double>(counts[k][c]) - target[c];
          const double after = before + static_cast<double>(info.count[c]);
          cost += after * after - before * before;
        }
        const std::int64_t size = counts[k][0] + counts[k][1];
        if (k == 0 || cost < best_cost - 1e-9 || (std::abs(cost - best_cost) <= 1e-9 && size < best_size)) {
          best = k;
          best_cost = cost;
          best_size = size;
        }
      }
      counts[best][0] += info.count[0];
      counts[best][1] += info.count[1];
      tests[best].insert(tests[best].end(), info.members.begin(), info.members.end());
    }
    for (auto& test : tests) std::sort(test.begin(), test.end());
    plan.repeats.push_back(std::move(tests));
  }
  check_fold_plan(plan, labels, where);
  return plan;
}

FoldPlan make_stratified_split(const std::vector<int>& labels, double test_fraction, std::uint64_t seed,
                               const std::string& where) {
  std::vector<std::int64_t> members[2];
  for (std::size_t i = 0; i < labels.size(); ++i) members[labels[i]].push_back(static_cast<std::int64_t>(i));
  const auto n = static_cast<double>(labels.size());
  // As scikit-learn: ceil(fraction x N) test samples, shared between the classes in proportion.
  const auto n_test = static_cast<std::int64_t>(std::ceil(test_fraction * n - 1e-9));
  std::int64_t per_class[2];
  double remainder[2];
  for (int c = 0; c < 2; ++c) {
    if (members[c].empty()) {
      throw DataError(error_message(where, std::string("labels hold one class only: no sample of class ") + class_name(c),
                                    "a probe needs seen and unseen samples"));
    }
    const double exact = static_cast<double>(n_test) * static_cast<double>(members[c].size()) / n;
    per_class[c] = static_cast<std::int64_t>(std::floor(exact));
    remainder[c] = exact - std::floor(exact);
  }
  if (per_class[0] + per_class[1] < n_test) ++per_class[remainder[1] > remainder[0] ? 1 : 0];
  if (per_class[0] + per_class[1] < n_test) ++per_class[remainder[1] > remainder[0] ? 0 : 1];
  std::vector<std::int64_t> test;
  for (int c = 0; c < 2; ++c) {
    per_class[c] = std::max<std::int64_t>(per_class[c], 1);
    if (per_class[c] >= static_cast<std::int64_t>(members[c].size())) {
      throw DataError(error_message(where,
                                    std::string("class ") + class_name(c) + " has " + std::to_string(members[c].size()) +
                                        " samples, too few for a stratified " +
                                        std::to_string(static_cast<int>(std::lround(100 * (1 - test_fraction)))) + "/" +
                                        std::to_string(static_cast<int>(std::lround(100 * test_fraction))) + " split",
                                    "each class needs samples on both sides of the split"));
    }
    Rng rng(derive_seed(seed, "probe/split/class/" + std::to_string(c)));
    rng.shuffle(members[c]);
    test.insert(test.end(), members[c].begin(), members[c].begin() + per_class[c]);
  }
  std::sort(test.begin(), test.end());
  FoldPlan plan;
  plan.split = "paper";
  plan.group_by = "sample";
  plan.seed = seed;
  plan.samples = static_cast<std::int64_t>(labels.size());
  plan.repeats.push_back({std::move(test)});
  check_fold_plan(plan, labels, where);
  return plan;
}

void check_fold_plan(const FoldPlan& plan, const std::vector<int>& labels, const std::string& where) {
  const auto n = static_cast<std::int64_t>(labels.size());
  if (plan.samples != n) {
    throw DataError(error_message(where, "the folds are for " + std::to_string(plan.samples) + " samples, the data has " +
                                             std::to_string(n)));
  }
  if (plan.repeats.empty()) throw DataError(error_message(where, "no folds"));
  std::int64_t total[2] = {0, 0};
  for (int label : labels) ++total[label];
  std::vector<std::size_t> seen(static_cast<std::size_t>(n), 0);
  for (std::size_t r = 0; r < plan.repeats.size(); ++r) {
    if (plan.repeats[r].empty()) throw DataError(error_message(where, "repeat " + std::to_string(r) + " has no folds"));
    for (std::size_t k = 0; k < plan.repeats[r].size(); ++k) {
      const auto& test = plan.repeats[r][k];
      const std::string name = "repeat " + std::to_string(r) + ", fold " + std::to_string(k);
      if (test.empty()) throw DataError(error_message(where, name + ": empty test set"));
      std::int64_t in_test[2] = {0, 0};
      for (std::size_t j = 0; j < test.size(); ++j) {
        const std::int64_t i = test[j];
        if (i < 0 || i >= n) {
          throw DataError(error_message(where, name + ": sample index " + std::to_string(i) + " out of range [0, " +
                                                   std::to_string(n) + ")"));
        }
        if (j > 0 && i <= test[j - 1]) {
          throw DataError(error_message(where, name + ": test indices not strictly ascending at " + std::to_string(i)));
        }
        if (seen[static_cast<std::size_t>(i)] == r + 1) {
          throw DataError(error_message(where, name + ": sample " + std::to_string(i) + " is in two test folds"));
        }
        seen[static_cast<std::size_t>(i)] = r + 1;
        ++in_test[labels[static_cast<std::size_t>(i)]];
      }
      for (int c = 0; c < 2; ++c) {
        if (total[c] - in_test[c] == 0) {
          throw DataError(error_message(where, name + ": the training set has no sample of class " + class_name(c),
                                        "use fewer folds or more samples"));
        }
      }
    }
  }
}

SplitGroup find_split_group(const FoldPlan& plan, const std::vector<std::int64_t>& groups) {
  for (std::size_t r = 0; r < plan.repeats.size(); ++r) {
    for (std::size_t k = 0; k < plan.repeats[r].size(); ++k) {
      std::map<std::int64_t, std::int64_t> in_test;
      for (std::int64_t i : plan.repeats[r][k]) ++in_test[groups[static_cast<std::size_t>(i)]];
      std::map<std::int64_t, std::int64_t> size;
      for (std::int64_t g : groups) {
        if (in_test.count(g)) ++size[g];
      }
      for (const auto& [g, count] : in_test) {
        if (size[g] != count) return SplitGroup{true, g, r, k};
      }
    }
  }
  return {};
}

nlohmann::json fold_plan_to_json(const FoldPlan& plan) {
  nlohmann::json repeats = nlohmann::json::array();
  for (const auto& repeat : plan.repeats) {
    nlohmann::json folds = nlohmann::json::array();
    for (const auto& test : repeat) folds.push_back({{"test", test}});
    repeats.push_back({{"folds", std::move(folds)}});
  }
  return {{"format_version", kFormatVersion}, {"split", plan.split},   {"group_by", plan.group_by},
          {"seed", plan.seed},                {"samples", plan.samples}, {"repeats", std::move(repeats)}};
}

FoldPlan fold_plan_from_json(const nlohmann::json& json, const std::string& where) {
  try {
    FoldPlan plan;
    if (!json.is_object()) throw FormatError(error_message(where, "a fold plan is a JSON object"));
    plan.split = "file";
    plan.group_by = json.value("group_by", std::string("file"));
    plan.seed = json.value("seed", std::uint64_t{0});
    plan.samples = require_int(json, "samples", where);
    const nlohmann::json& repeats = require_field(json, "repeats", where);
    if (!repeats.is_array()) throw FormatError(error_message(where, "'repeats' must be an array"));
    for (const auto& repeat : repeats) {
      const nlohmann::json& folds = require_field(repeat, "folds", where);
      if (!folds.is_array()) throw FormatError(error_message(where, "'folds' must be an array"));
      std::vector<std::vector<std::int64_t>> tests;
      for (const auto& fold : folds) {
        const nlohmann::json& test = require_field(fold, "test", where);
        if (!test.is_array()) throw FormatError(error_message(where, "'test' must be an array of sample indices"));
        std::vector<std::int64_t> indices;
        indices.reserve(test.size());
        for (const auto& value : test) {
          if (!value.is_number_integer()) throw FormatError(error_message(where, "a test index is not an integer"));
          indices.push_back(value.get<std::int64_t>());
        }
        tests.push_back(std::move(indices));
      }
      plan.repeats.push_back(std::move(tests));
    }
    return plan;
  } catch (const DataError& e) {
    throw FormatError(e.what());
  }
}

}  // namespace privprobe
