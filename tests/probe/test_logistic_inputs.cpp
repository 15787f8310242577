// solve_logistic_batch refuses arrays whose sizes disagree with the problem's dimensions, naming
// the field, instead of reading past them; a consistent tiny problem is solved (without libtorch,
// so this runs in every build, the sanitizer build included).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "probe/logistic_batch.h"
#include "support/test_support.h"

namespace privprobe {
namespace {

struct Tiny {
  std::vector<float> features;
  LogisticBatchProblem problem;
  LogisticSolverOptions options;
};

// One layer, 8 rows, 2 features, one split (the last 2 rows held out), one problem; the label
// follows the sign of feature 0.
Tiny tiny_problem() {
  Tiny t;
  t.features = {1.0F, 0.2F, -1.0F, 0.1F, 2.0F, -0.3F, -2.0F, 0.4F, 0.5F, 0.0F, -0.5F, -0.1F, 1.5F, 0.3F, -1.5F, -0.2F};
  LogisticBatchProblem& p = t.problem;
  p.features = t.features.data();
  p.layers = 1;
  p.rows = 8;
  p.dim = 2;
  p.splits = 1;
  p.train_mask = {1, 1, 1, 1, 1, 1, 0, 0};
  p.mean = {0.0F, 0.0F};
  p.scale = {1.0F, 1.0F};
  p.targets = {1, -1, 1, -1, 1, -1, 1, -1};
  p.split_of = {0};
  p.sketch_mean = {0.0F, 0.0F};
  p.sketch_scale = {1.0F, 1.0F};
  t.options.sketch_seeds = {1};
  return t;
}

TEST(LogisticInputs, ConsistentTinyProblemIsSolved) {
  Tiny t = tiny_problem();
  const LogisticBatchSolution solution = solve_logistic_batch(t.problem, t.options);
  ASSERT_EQ(solution.margins.size(), 8u);
  EXPECT_EQ(solution.converged, std::vector<std::uint8_t>{1});
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(solution.margins[i] > 0, t.problem.targets[i] > 0) << "row " << i << " (rows 6 and 7 are held out)";
  }
}

TEST(LogisticInputs, SizesThatDisagreeAreRefusedByName) {
  const auto refusal = [](void (*spoil)(Tiny&)) {
    Tiny t = tiny_problem();
    spoil(t);
    return test::error_of<std::invalid_argument>([&] { solve_logistic_batch(t.problem, t.options); });
  };
  EXPECT_NE(refusal([](Tiny& t) { t.problem.train_mask.pop_back(); }).find("train_mask"), std::string::npos);
  EXPECT_NE(refusal([](Tiny& t) { t.problem.scale.push_back(1.0F); }).find("mean and scale"), std::string::npos);
  EXPECT_NE(refusal([](Tiny& t) { t.problem.targets.resize(7); }).find("targets"), std::string::npos);
  EXPECT_NE(refusal([](Tiny& t) { t.problem.sketch_scale.clear(); }).find("sketch_mean"), std::string::npos);
  EXPECT_NE(refusal([](Tiny& t) { t.options.sketch_seeds.clear(); }).find("sketch seed"), std::string::npos);
  EXPECT_NE(refusal([](Tiny& t) { t.problem.split_of = {1}; }).find("split_of"), std::string::npos);
  EXPECT_NE(refusal([](Tiny& t) { t.problem.fit_rows = 9; }).find("fit_rows"), std::string::npos);
  EXPECT_NE(refusal([](Tiny& t) { t.problem.features = nullptr; }).find("features"), std::string::npos);
}

}  // namespace
}  // namespace privprobe
