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
//     finder with one power iteration on a subsample of rows, then one block pass), which carry
//     the few huge-variance directions of LLM residual streams that make plain gradient methods
//     crawl,
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

namespace privprobe {

struct LogisticBatchProblem {
  // [L, N, D] float32, row-major; centred (column means ~0), since the passes run in float32 and
  // large constant channels would cost digits. Not owned: it must outlive the solve.
  const float* features = nullptr;
  std::int64_t layers = 0, rows = 0, dim = 0;
  // Rows [0, fit_rows) are the only ones any problem trains on (0: all N); the rest only get
  // decision values at the end, so the passes while fitting skip them.
  std::int64_t fit_rows = 0;
  std::int64_t splits = 0;
  std::vector<double> train_mask;  // [F, N]: 1 for the training rows of split f, else 0
  std::vector<float> mean;         // [L, F, D]: standardisation centre per split (in features' units)
  std::vector<float> scale;        // [L, F, D]: standardisation scale per split (all 1: no scaling)
  std::vector<double> targets;     // [P, N]: +1 / -1
  std::vector<std::int64_t> split_of;  // [P]: the split each problem trains on
  std::vector<float> sketch_mean;   // [L, D]: centre and scale of the features for the
  std::vector<float> sketch_scale;  // [L, D]   deflation sketch (e.g. over all rows)
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
  std::int64_t layers = 0, problems = 0, rows = 0, dim = 0;
  std::vector<double> weights;            // [L, P, D], on the standardised features
  std::vector<double> bias;               // [L, P]
  std::vector<double> margins;            // [L, P, N]: x_i . w + b for every row, train and test
  std::vector<double> objective;          // [L, P]
  std::vector<std::int64_t> iterations;   // [L, P]
  std::vector<std::uint8_t> converged;    // [L, P]: 1 or 0
};

// Throws std::invalid_argument when the problem's arrays do not have the sizes above.
LogisticBatchSolution solve_logistic_batch(const LogisticBatchProblem& problem, const LogisticSolverOptions& options);

}  // namespace privprobe
