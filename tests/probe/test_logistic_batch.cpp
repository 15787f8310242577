// The batched solver against the optimality conditions of scikit-learn's objective, computed here
// independently in float64: at the solution, C X_s^T (sigma(m) - y01) + w = 0 and the same summed
// for the intercept, per layer and problem, for both of the solver's paths (full Newton for small
// D, the deflated subspace method for large D), with standardisation, several splits, and rows
// that only get predictions.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <vector>

#include "probe/logistic_batch.h"

namespace privprobe {
namespace {

template <typename T>
std::vector<T> values_of(const torch::Tensor& tensor) {
  const torch::Tensor flat = tensor.contiguous().view(-1);
  return std::vector<T>(flat.data_ptr<T>(), flat.data_ptr<T>() + flat.numel());
}

struct Case {
  std::int64_t layers, samples, dim, fit_rows;
  double C;
};

void expect_optimal(const Case& c) {
  torch::manual_seed(7);
  const std::int64_t splits = 3;
  // Anisotropic features with a large offset on some channels, and a weak label signal.
  torch::Tensor labels = (torch::rand({c.samples}) < 0.5).to(torch::kDouble);
  torch::Tensor features = torch::randn({c.layers, c.samples, c.dim}) * (1 + torch::arange(c.dim) % 5).to(torch::kFloat);
  features += (2 * labels - 1).to(torch::kFloat).view({1, -1, 1}) * 0.3;
  features.narrow(2, 0, 2) += 50;
  features = (features - features.mean(1, true)).contiguous();  // the solver takes centred features

  // Splits over the first fit_rows rows; the remaining rows are never trained on.
  torch::Tensor train_mask = torch::zeros({splits, c.samples}, torch::kDouble);
  for (std::int64_t f = 0; f < splits; ++f) {
    for (std::int64_t i = 0; i < c.fit_rows; ++i) train_mask[f][i] = (i % splits == f) ? 0.0 : 1.0;
  }
  LogisticBatchProblem problem;
  problem.features = features.data_ptr<float>();
  problem.layers = c.layers;
  problem.rows = c.samples;
  problem.dim = c.dim;
  problem.fit_rows = c.fit_rows;
  problem.splits = splits;
  problem.train_mask = values_of<double>(train_mask);
  std::vector<torch::Tensor> means, scales;
  for (std::int64_t f = 0; f < splits; ++f) {
    const torch::Tensor rows = train_mask[f].nonzero().squeeze(1);
    const torch::Tensor train = features.index_select(1, rows).to(torch::kDouble);  // [L, n, D]
    means.push_back(train.mean(1));
    scales.push_back(train.std(1, /*unbiased=*/false));
  }
  const torch::Tensor mean = torch::stack(means, 1).to(torch::kFloat);    // [L, F, D]
  const torch::Tensor scale = torch::stack(scales, 1).to(torch::kFloat);  // [L, F, D]
  problem.mean = values_of<float>(mean);
  problem.scale = values_of<float>(scale);
  // Problems: each split with the real labels, and each with shuffled labels.
  const torch::Tensor shuffled = labels.index_select(0, torch::randperm(c.samples));
  const torch::Tensor targets =
      torch::stack({2 * labels - 1, 2 * labels - 1, 2 * labels - 1, 2 * shuffled - 1, 2 * shuffled - 1});
  problem.targets = values_of<double>(targets);
  problem.split_of = {0, 1, 2, 0, 2};
  problem.sketch_mean = values_of<float>(features.mean(1));
  problem.sketch_scale = values_of<float>(features.std(1, /*unbiased=*/false));

  LogisticSolverOptions options;
  options.C = c.C;
  options.tolerance = 1e-8;
  for (std::int64_t l = 0; l < c.layers; ++l) options.sketch_seeds.push_back(static_cast<std::uint64_t>(l));
  const LogisticBatchSolution solution = solve_logistic_batch(problem, options);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  const auto view = [&](std::vector<double> values, std::vector<std::int64_t> shape) {
    return torch::tensor(values, f64).view(shape);
  };
  const torch::Tensor weights = view(solution.weights, {c.layers, 5, c.dim});
  const torch::Tensor bias = view(solution.bias, {c.layers, 5});
  const torch::Tensor solved_margins = view(solution.margins, {c.layers, 5, c.samples});
  for (std::size_t i = 0; i < solution.converged.size(); ++i) {
    EXPECT_EQ(solution.converged[i], 1) << "problem " << i << " after " << solution.iterations[i] << " iterations";
  }

  for (std::int64_t l = 0; l < c.layers; ++l) {
    for (std::int64_t p = 0; p < 5; ++p) {
      const std::int64_t f = problem.split_of[static_cast<std::size_t>(p)];
      const torch::Tensor x = ((features[l].to(torch::kDouble) - mean[l][f].to(torch::kDouble)) /
                               scale[l][f].to(torch::kDouble));  // [N, D]
      const torch::Tensor w = weights[l][p];
      const double b = bias[l][p].item<double>();
      const torch::Tensor margins = torch::mv(x, w) + b;
      EXPECT_LT((margins - solved_margins[l][p]).abs().max().item<double>(), 1e-3) << "margins of every row";
      const torch::Tensor y01 = (targets[p] + 1) / 2;
      const torch::Tensor weight = c.C * train_mask[f];
      const torch::Tensor residual = weight * (torch::sigmoid(margins) - y01);
      const torch::Tensor gradient = torch::mv(x.t(), residual) + w;
      const torch::Tensor at_zero = torch::mv(x.t(), weight * (0.5 - y01));
      const double relative = std::sqrt((gradient.square().sum() + residual.sum().square()).item<double>()) /
                              std::sqrt((at_zero.square().sum() + (weight * (0.5 - y01)).sum().square()).item<double>());
      EXPECT_LT(relative, 1e-6) << "layer " << l << ", problem " << p;
    }
  }
}

TEST(LogisticBatch, FullNewtonPathIsOptimal) { expect_optimal({2, 120, 12, 120, 1.0}); }

TEST(LogisticBatch, DeflatedSubspacePathIsOptimal) { expect_optimal({2, 150, 300, 150, 1.0}); }

TEST(LogisticBatch, PredictionOnlyRowsAndOtherC) { expect_optimal({1, 160, 90, 120, 0.1}); }

}  // namespace
}  // namespace privprobe
