// Train/test splits for the probes, written next to the results (folds.json) so that `ask`, a
// comparison of two models and the scikit-learn check all reuse exactly the same ones.
//
// Stratified group k-fold: no group (base image, or profile) is ever on both sides of a split,
// and every fold holds about 1/k of each class. Groups are visited in a seeded random order,
// largest first, each placed in the fold where it brings the class counts closest to their
// targets. Each repeat uses its own seed, so repeats differ; the same seed gives the same folds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace privprobe {

struct FoldPlan {
  std::string split;      // "kfold", "paper", or "file" when read from a user's folds.json
  std::string group_by;   // "image", "profile" or "sample"
  std::uint64_t seed = 0;
  std::int64_t samples = 0;
  // repeats[r][k]: the test indices of fold k in repeat r, ascending. Training: all the others.
  std::vector<std::vector<std::vector<std::int64_t>>> repeats;

  std::size_t fold_count() const;  // over all repeats
};

// Stratified k-fold grouped by `groups` (one id per sample; any integers). Throws DataError naming
// `where` when a class occurs in fewer groups than there are folds.
FoldPlan make_group_kfold(const std::vector<int>& labels, const std::vector<std::int64_t>& groups, int folds,
                          int repeats, std::uint64_t seed, const std::string& where);

// One stratified split by sample with test_fraction of each class (rounded, at least one) in the
// test set, as scikit-learn's train_test_split(stratify=y). Throws DataError naming `where` when a
// class is too small to appear on both sides.
FoldPlan make_stratified_split(const std::vector<int>& labels, double test_fraction, std::uint64_t seed,
                               const std::string& where);

// Indices in range, ascending and disjoint within a repeat, no empty test fold, and both classes in
// every training set. Throws DataError naming `where`.
void check_fold_plan(const FoldPlan& plan, const std::vector<int>& labels, const std::string& where);

// The first group (its id) that has samples on both sides of some split, or nothing.
struct SplitGroup {
  bool found = false;
  std::int64_t group = 0;
  std::size_t repeat = 0;
  std::size_t fold = 0;
};
SplitGroup find_split_group(const FoldPlan& plan, const std::vector<std::int64_t>& groups);

nlohmann::json fold_plan_to_json(const FoldPlan& plan);
// Throws FormatError naming `where` for a document that is not a fold plan.
FoldPlan fold_plan_from_json(const nlohmann::json& json, const std::string& where);

}  // namespace privprobe
