// The batched logistic solver's state, shared by its two halves: logistic_batch.cpp sets the
// problem up (standardisation per problem, the deflation basis, the products with the features)
// and logistic_iteration.cpp runs the subspace iteration. Internal to the probe library.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "probe/logistic_batch.h"

namespace privprobe::logistic_detail {

inline std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

// Margins are recomputed exactly every this many iterations; a problem whose gradient norm has not
// halved for kPatience iterations has reached the floor of float32 precision and stops.
constexpr int kRefreshEvery = 10;
constexpr int kPatience = 8;

// log(1 + exp(z)) without overflow.
inline double softplus(double z) { return std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z))); }

// 1 / (1 + exp(-z)) without overflow.
inline double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

inline double squared_norm(const double* v, std::int64_t size) {
  double sum = 0;
  for (std::int64_t i = 0; i < size; ++i) sum += v[i] * v[i];
  return sum;
}

class BatchSolver {
 public:
  BatchSolver(const LogisticBatchProblem& problem, const LogisticSolverOptions& options);

  LogisticBatchSolution solve();

 private:
  const float* layer_features(std::int64_t l) const { return x_ + l * all_rows_ * dim_; }

  // X_s v for directions v [L*P, D] -> out[lp * out_stride + row] (no bias), on the fitted rows
  // or on all rows.
  void apply_into(const double* v, bool all_rows, double* out, std::int64_t out_stride) const;

  // gradient = X_s^T r + w for residuals r [L*P, N] with row sums r_sum [L*P]: all [L*P, D].
  void gradient_into(const double* residual, const double* r_sum, const double* w, double* gradient) const;

  // Per problem: sum of C * mask * log(1 + exp(-y m)) over the fitted rows, plus 0.5 ||w||^2.
  std::vector<double> objective(const double* margins, const double* w) const;

  void build_deflation_basis(const LogisticBatchProblem& problem);

  const float* x_ = nullptr;  // [L, N, D]; the fitted rows are the first samples_ of each layer
  LogisticSolverOptions options_;
  std::int64_t layers_ = 0, all_rows_ = 0, samples_ = 0 /* fitted rows */, dim_ = 0, problems_ = 0, rank_ = 0;
  bool full_basis_ = false;
  std::vector<float> mean_;                         // [L, P, D]
  std::vector<double> scale_, inv_scale_;           // [L, P, D]
  std::vector<double> loss_weight_, targets_;       // [P, N fitted]
  std::vector<double> basis_;         // [L, D, k]: deflation directions in the features' units
  std::vector<double> basis_images_;  // [L, P, k, N fitted]: X_s (scale_p * basis)
  std::vector<double> basis_gram_;    // [L, P, k, k]: basis^T diag(scale_p^2) basis
};

}  // namespace privprobe::logistic_detail
