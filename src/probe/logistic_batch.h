// Many L2-regularised logistic regressions at once: every (layer, problem) pair minimises
// scikit-learn's objective
//     C * sum_{i in train} log(1 + exp(-y_i (x_i . w + b))) + 0.5 * ||w||^2     (b not penalised)
// on standardised features x_i = (s_i - mean) / scale of its split. Problems of one layer share
// the feature matrix (they differ in split, labels, or both), so each pass over the features
// serves all of them.
//
// Method (why it is fast): the cost is dominated by passes over the [N, D] features, so the solver
// minimises per pass as much as it can. Each iteration computes the gradient (one pass) and its
// image X g (one pass), then minimises the objective *exactly* over the subspace spanned by
//   - a fixed deflation basis: the top principal directions of the layer (a randomized range
//     finder with one power iteration on a subsample of rows, then one block pass), which carry the few huge-variance directions of LLM residual
//     streams that make plain gradient methods crawl,
//   - the last `memory` steps, and the current gradient,
// by a damped Newton step with backtracking on that small problem (whose features are the images
// of the basis, already known). The margins follow from the images and are recomputed exactly
// every few iterations; the iterate with the smallest gradient is returned, since at the floor of
// float32 precision the steps become rounding noise (a problem stops there when its gradient has
// not halved for a while). This is a deflated, nonlinear conjugate-gradient-like subspace
// method; it reaches the optimum to a relative gradient of 1e-7 in ~15-30 iterations where
// L-BFGS takes hundreds, and it needs no Gram matrix (N^2 D work). When D is tiny the basis is
// simply all of R^D and every iteration is a full Newton step.
//
// Dimension legend: L layers, N samples, D features, F splits, P problems, k deflation rank.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace privprobe {

struct LogisticBatchProblem {
  torch::Tensor features;    // [L, N, D] float32, contiguous; centred (column means ~0), since the
                             // passes run in float32 and large constant channels would cost digits
  // Rows [0, fit_rows) are the only ones any problem trains on (0: all N); the rest only get
  // decision values at the end, so the passes while fitting skip them.
  std::int64_t fit_rows = 0;
  torch::Tensor train_mask;  // [F, N] float64: 1 for the training rows of split f, else 0
  torch::Tensor mean;        // [L, F, D] float32: standardisation centre per split (in features' units)
  torch::Tensor scale;       // [L, F, D] float32: standardisation scale per split (all 1: no scaling)
  torch::Tensor targets;     // [P, N] float64: +1 / -1
  std::vector<std::int64_t> split_of;  // [P]: the split each problem trains on
  torch::Tensor sketch_mean;   // [L, D] float32: centre and scale of the features for the
  torch::Tensor sketch_scale;  // [L, D] float32   deflation sketch (e.g. over all rows)
};

struct LogisticSolverOptions {
  double C = 1.0;
  double tolerance = 1e-7;  // relative gradient norm, against its value at w = 0, b = 0
  int max_iterations = 500;
  int deflation_rank = 24;
  int memory = 4;
  int full_basis_dim = 32;  // D up to this: the basis is all of R^D (plain Newton)
  int sketch_rows = 256;    // rows of the subsample the deflation sketch is computed on
  std::vector<std::uint64_t> sketch_seeds;  // [L]: seeds of the random sketch, one per layer
};

struct LogisticBatchSolution {
  torch::Tensor weights;     // [L, P, D] float64, on the standardised features
  torch::Tensor bias;        // [L, P] float64
  torch::Tensor margins;     // [L, P, N] float64: x_i . w + b for every row, train and test
  torch::Tensor objective;   // [L, P] float64
  torch::Tensor iterations;  // [L, P] int64
  torch::Tensor converged;   // [L, P] bool
};

LogisticBatchSolution solve_logistic_batch(const LogisticBatchProblem& problem, const LogisticSolverOptions& options);

}  // namespace privprobe
