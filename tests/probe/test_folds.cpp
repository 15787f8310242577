// Folds, the paper split, the control permutation and the statistics: no fitting involved.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "probe/control.h"
#include "probe/folds.h"
#include "probe/probe.h"
#include "probe/probe_stats.h"
#include "probe_fixtures.h"
#include "util/error.h"

namespace privprobe {
namespace {

// Every sample tested exactly once per repeat, and no group on both sides of any split.
void expect_partition_respects_groups(const FoldPlan& plan, const std::vector<std::int64_t>& groups) {
  for (const auto& repeat : plan.repeats) {
    std::vector<int> tested(groups.size(), 0);
    std::map<std::int64_t, std::set<std::size_t>> folds_of_group;
    for (std::size_t k = 0; k < repeat.size(); ++k) {
      for (std::int64_t i : repeat[k]) {
        ++tested[static_cast<std::size_t>(i)];
        folds_of_group[groups[static_cast<std::size_t>(i)]].insert(k);
      }
    }
    for (int count : tested) EXPECT_EQ(count, 1);
    for (const auto& [group, folds] : folds_of_group) EXPECT_EQ(folds.size(), 1u) << "group " << group;
  }
  EXPECT_FALSE(find_split_group(plan, groups).found);
}

TEST(ProbeFolds, NeverSplitAGroupAndStayStratified) {
  // Groups of uneven size and mixed composition.
  std::vector<int> labels;
  std::vector<std::int64_t> groups;
  for (int g = 0; g < 60; ++g) {
    const int size = 1 + g % 4;
    for (int j = 0; j < size; ++j) {
      labels.push_back((g + j) % 3 == 0 ? 1 : 0);
      groups.push_back(1000 - 7 * g);  // arbitrary ids, not sorted
    }
  }
  const FoldPlan plan = make_group_kfold(labels, groups, 5, 3, 7, "test");
  ASSERT_EQ(plan.repeats.size(), 3u);
  expect_partition_respects_groups(plan, groups);
  const double positives = static_cast<double>(std::count(labels.begin(), labels.end(), 1));
  for (const auto& repeat : plan.repeats) {
    ASSERT_EQ(repeat.size(), 5u);
    for (const auto& test : repeat) {
      double fold_positives = 0;
      for (std::int64_t i : test) fold_positives += labels[static_cast<std::size_t>(i)];
      EXPECT_NEAR(fold_positives, positives / 5, 4.0);  // within one group's size of the target
    }
  }
  EXPECT_NE(plan.repeats[0], plan.repeats[1]) << "repeats must use different seeds";
}

TEST(ProbeFolds, PairsGiveBalancedFolds) {
  const ActivationSet set = test::make_planted_set({});
  const FoldPlan plan = make_group_kfold(set.labels, set.groups, 5, 2, 0, "test");
  expect_partition_respects_groups(plan, set.groups);
  for (const auto& test : plan.repeats[0]) {
    EXPECT_EQ(test.size(), 40u);
    EXPECT_EQ(std::count_if(test.begin(), test.end(), [&](std::int64_t i) { return set.labels[i] == 1; }), 20);
  }
}

TEST(ProbeFolds, ProfileGroupingHoldsOutWholeProfiles) {
  const ActivationSet set = test::make_planted_set({});
  ProbeConfig config;
  config.group_by = ProbeGroupBy::kProfile;
  const FoldPlan plan = make_probe_folds(set, config);
  EXPECT_EQ(plan.group_by, "profile");
  expect_partition_respects_groups(plan, set.profiles);
  // Each fold tests 4 + 4 of the 20 + 20 profiles, never seen in its training set.
  for (const auto& test : plan.repeats[0]) {
    std::set<std::int64_t> held_out;
    for (std::int64_t i : test) held_out.insert(set.profiles[static_cast<std::size_t>(i)]);
    EXPECT_EQ(held_out.size(), 8u);
  }
  // Grouped by image instead, profiles do cross the split (the identity confound).
  config.group_by = ProbeGroupBy::kImage;
  EXPECT_TRUE(find_split_group(make_probe_folds(set, config), set.profiles).found);
}

TEST(ProbeFolds, PaperSplitIsStratified8020) {
  std::vector<int> labels(1000, 0);
  std::fill(labels.begin(), labels.begin() + 500, 1);
  FoldPlan plan = make_stratified_split(labels, 0.2, 42, "test");
  ASSERT_EQ(plan.repeats.size(), 1u);
  ASSERT_EQ(plan.repeats[0].size(), 1u);
  const auto& test = plan.repeats[0][0];
  EXPECT_EQ(test.size(), 200u);
  EXPECT_EQ(std::count_if(test.begin(), test.end(), [&](std::int64_t i) { return labels[i] == 1; }), 100);
  EXPECT_EQ(make_stratified_split(labels, 0.2, 42, "test").repeats, plan.repeats);
  EXPECT_NE(make_stratified_split(labels, 0.2, 43, "test").repeats, plan.repeats);

  // Unbalanced: 101 samples, 31 positive -> ceil(20.2) = 21 test samples, 6 positive (6.45 -> 6).
  std::vector<int> unbalanced(101, 0);
  std::fill(unbalanced.begin(), unbalanced.begin() + 31, 1);
  plan = make_stratified_split(unbalanced, 0.2, 42, "test");
  const auto& small = plan.repeats[0][0];
  EXPECT_EQ(small.size(), 21u);
  EXPECT_EQ(std::count_if(small.begin(), small.end(), [&](std::int64_t i) { return unbalanced[i] == 1; }), 6);
}

TEST(ProbeFolds, RefusesTooFewGroupsPerClass) {
  std::vector<int> labels = {1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
  std::vector<std::int64_t> groups = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  try {
    make_group_kfold(labels, groups, 5, 1, 0, "acts.safetensors");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("acts.safetensors"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("fewer than the 5 folds"), std::string::npos) << e.what();
  }
  // Pairs: 4 groups hold each class, too few for 5 folds even with 8 samples per class... and with
  // groups counted, not samples.
  std::vector<int> paired = {1, 0, 1, 0, 1, 0, 1, 0};
  std::vector<std::int64_t> pair_groups = {0, 0, 1, 1, 2, 2, 3, 3};
  EXPECT_THROW(make_group_kfold(paired, pair_groups, 5, 1, 0, "x"), DataError);
  EXPECT_NO_THROW(make_group_kfold(paired, pair_groups, 4, 1, 0, "x"));
  EXPECT_THROW(make_group_kfold(std::vector<int>(10, 1), groups, 2, 1, 0, "x"), DataError);  // one class
  EXPECT_THROW(make_stratified_split(std::vector<int>(10, 0), 0.2, 42, "x"), DataError);
  EXPECT_THROW(make_stratified_split({1, 0, 0, 0, 0, 0}, 0.2, 42, "x"), DataError);  // one positive
}

TEST(ProbeFolds, JsonRoundTripAndChecks) {
  const ActivationSet set = test::make_planted_set({});
  const FoldPlan plan = make_group_kfold(set.labels, set.groups, 5, 2, 3, "test");
  const FoldPlan back = fold_plan_from_json(fold_plan_to_json(plan), "folds.json");
  EXPECT_EQ(back.repeats, plan.repeats);
  EXPECT_EQ(back.samples, plan.samples);
  EXPECT_NO_THROW(check_fold_plan(back, set.labels, "folds.json"));

  FoldPlan broken = back;
  broken.repeats[0][1].push_back(broken.repeats[0][0].front());  // a sample in two folds
  std::sort(broken.repeats[0][1].begin(), broken.repeats[0][1].end());
  EXPECT_THROW(check_fold_plan(broken, set.labels, "folds.json"), DataError);
  broken = back;
  broken.repeats[0][0].push_back(set.samples);  // out of range
  EXPECT_THROW(check_fold_plan(broken, set.labels, "folds.json"), DataError);
  broken = back;
  broken.samples = 7;
  EXPECT_THROW(check_fold_plan(broken, set.labels, "folds.json"), DataError);
  EXPECT_THROW(fold_plan_from_json(nlohmann::json::parse(R"({"samples": 3, "repeats": [{"folds": [{"test": ["a"]}]}]})"),
                                   "folds.json"),
               FormatError);
  EXPECT_THROW(fold_plan_from_json(nlohmann::json::parse("[1, 2]"), "folds.json"), FormatError);
}

TEST(ProbeControl, PairsKeepOneOfEachAndProfilesMoveTogether) {
  const ActivationSet set = test::make_planted_set({});
  const std::vector<int> paired = permuted_control_labels(set.labels, set.groups, 5);
  int swapped = 0;
  for (std::int64_t g = 0; g < 100; ++g) {
    EXPECT_EQ(paired[2 * g] + paired[2 * g + 1], 1);
    swapped += paired[2 * g] == 0;
  }
  EXPECT_GT(swapped, 30);
  EXPECT_LT(swapped, 70);
  EXPECT_EQ(permuted_control_labels(set.labels, set.groups, 5), paired);
  EXPECT_NE(permuted_control_labels(set.labels, set.groups, 6), paired);

  // Whole profiles (pure groups) exchange labels: still 20 seen profiles, each internally consistent.
  const std::vector<int> by_profile = permuted_control_labels(set.labels, set.profiles, 5);
  std::map<std::int64_t, std::set<int>> labels_of_profile;
  for (std::size_t i = 0; i < by_profile.size(); ++i) labels_of_profile[set.profiles[i]].insert(by_profile[i]);
  int seen_profiles = 0;
  for (const auto& [profile, labels] : labels_of_profile) {
    EXPECT_EQ(labels.size(), 1u);
    seen_profiles += *labels.begin();
  }
  EXPECT_EQ(seen_profiles, 20);
  EXPECT_NE(by_profile, set.labels);
}

TEST(ProbeStats, AucHolmPermutationBootstrap) {
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.2, 0.8, 0.9}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc({0.9, 0.8, 0.2, 0.1}, {0, 0, 1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(roc_auc({0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);  // scikit-learn's example
  EXPECT_TRUE(std::isnan(roc_auc({0.1, 0.2}, {1, 1})));

  const std::vector<double> holm = holm_adjust({0.01, 0.04, 0.03, 0.5});
  EXPECT_NEAR(holm[0], 0.04, 1e-12);
  EXPECT_NEAR(holm[2], 0.09, 1e-12);
  EXPECT_NEAR(holm[1], 0.09, 1e-12);  // monotone: max(0.04 * 2, 0.09)
  EXPECT_NEAR(holm[3], 0.5, 1e-12);

  EXPECT_DOUBLE_EQ(sign_flip_p_value(std::vector<double>(50, 0.0), 999, 1), 1.0);
  EXPECT_LT(sign_flip_p_value(std::vector<double>(50, 0.01), 999, 1), 0.01);
  std::vector<double> mixed;
  for (int i = 0; i < 50; ++i) mixed.push_back(i % 2 ? 0.01 : -0.01);
  EXPECT_GT(sign_flip_p_value(mixed, 999, 1), 0.5);

  std::vector<double> value(200), weight(200, 1.0);
  std::vector<std::int64_t> group(200);
  for (std::size_t i = 0; i < 200; ++i) {
    value[i] = i % 4 == 0 ? 0.0 : 1.0;
    group[i] = static_cast<std::int64_t>(i / 2);
  }
  const Interval interval = bootstrap_ratio_interval(value, weight, group, 2000, 0.95, 3);
  EXPECT_LT(interval.low, 0.75);
  EXPECT_GT(interval.high, 0.75);
  EXPECT_GT(interval.low, 0.6);
  EXPECT_LT(interval.high, 0.9);
}

}  // namespace
}  // namespace privprobe
