#include "probe/logistic_batch.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/rng.h"

namespace privprobe {
namespace {

// OpenBLAS's sgemm is slower for a handful of right-hand sides than that many sgemv calls
// (measured with Debian's 0.3.21: [2, 4096] x [4096, 800] takes 6x one matrix-vector product),
// so small batches of vectors go one by one.
constexpr std::int64_t kMatrixVectorLimit = 8;

// W X^T for one layer: x [N, D], w [P, D] float32 -> [P, N].
torch::Tensor times_rows(const torch::Tensor& x, const torch::Tensor& w) {
  if (w.size(0) > kMatrixVectorLimit) return torch::mm(w, x.t());
  std::vector<torch::Tensor> rows;
  for (std::int64_t p = 0; p < w.size(0); ++p) rows.push_back(torch::mv(x, w[p]));
  return torch::stack(rows);
}

// R X for one layer: x [N, D], r [P, N] float32 -> [P, D].
torch::Tensor times_cols(const torch::Tensor& x, const torch::Tensor& r) {
  if (r.size(0) > kMatrixVectorLimit) return torch::mm(r, x);
  std::vector<torch::Tensor> rows;
  for (std::int64_t p = 0; p < r.size(0); ++p) rows.push_back(torch::mv(x.t(), r[p]));
  return torch::stack(rows);
}

// Margins are recomputed exactly every this many iterations; a problem whose gradient norm has not
// halved for kPatience iterations has reached the floor of float32 precision and stops.
constexpr int kRefreshEvery = 10;
constexpr int kPatience = 8;

// log(1 + exp(z)) without overflow.
torch::Tensor stable_softplus(const torch::Tensor& z) { return torch::relu(z) + torch::log1p(torch::exp(-z.abs())); }

class BatchSolver {
 public:
  BatchSolver(const LogisticBatchProblem& problem, const LogisticSolverOptions& options)
      : all_x_(problem.features), options_(options) {
    TORCH_CHECK(all_x_.dim() == 3 && all_x_.scalar_type() == torch::kFloat && all_x_.is_contiguous(),
                "features: [L, N, D] float32");
    layers_ = all_x_.size(0);
    dim_ = all_x_.size(2);
    samples_ = problem.fit_rows > 0 ? problem.fit_rows : all_x_.size(1);
    TORCH_CHECK(samples_ <= all_x_.size(1), "fit_rows beyond the rows");
    x_ = all_x_.narrow(1, 0, samples_);
    problems_ = static_cast<std::int64_t>(problem.split_of.size());
    TORCH_CHECK(problem.targets.sizes() == torch::IntArrayRef({problems_, all_x_.size(1)}), "targets: [P, N]");
    TORCH_CHECK(static_cast<std::int64_t>(options.sketch_seeds.size()) == layers_, "one sketch seed per layer");
    const auto split = torch::tensor(problem.split_of, torch::kLong);
    mean_ = problem.mean.index_select(1, split).contiguous();                 // [L, P, D] float32
    scale_ = problem.scale.index_select(1, split).to(torch::kDouble);         // [L, P, D]
    inv_scale_ = 1.0 / scale_;
    loss_weight_ = (options.C * problem.train_mask.index_select(0, split).narrow(1, 0, samples_)).unsqueeze(0);  // [1, P, N]
    targets_ = problem.targets.to(torch::kDouble).narrow(1, 0, samples_).unsqueeze(0);                         // [1, P, N]
    build_deflation_basis(problem, split);
  }

  LogisticBatchSolution solve();

 private:
  // X_s W for standardised weights w [L, P, D] float64 -> [L, P, N] float64 (no bias), on the
  // fitted rows or on all rows.
  torch::Tensor apply(const torch::Tensor& w, bool all_rows = false) const {
    const torch::Tensor raw = (w * inv_scale_).to(torch::kFloat);
    const torch::Tensor& x = all_rows ? all_x_ : x_;
    std::vector<torch::Tensor> per_layer;
    for (std::int64_t l = 0; l < layers_; ++l) per_layer.push_back(times_rows(x[l], raw[l]));
    const torch::Tensor offset = (mean_.to(torch::kDouble) * raw.to(torch::kDouble)).sum(-1, true);  // [L, P, 1]
    return torch::stack(per_layer).to(torch::kDouble) - offset;
  }

  // X_s^T r for residuals r [L, P, N] float64 -> [L, P, D] float64.
  torch::Tensor apply_transpose(const torch::Tensor& r) const {
    const torch::Tensor rf = r.to(torch::kFloat);
    std::vector<torch::Tensor> per_layer;
    for (std::int64_t l = 0; l < layers_; ++l) per_layer.push_back(times_cols(x_[l], rf[l]));
    const torch::Tensor raw = torch::stack(per_layer).to(torch::kDouble);
    return (raw - mean_.to(torch::kDouble) * r.sum(-1, true)) * inv_scale_;
  }

  torch::Tensor objective(const torch::Tensor& margins, const torch::Tensor& w) const {
    return (loss_weight_ * stable_softplus(-targets_ * margins)).sum(-1) + 0.5 * (w * w).sum(-1);
  }

  void build_deflation_basis(const LogisticBatchProblem& problem, const torch::Tensor& split);

  torch::Tensor all_x_;  // [L, N, D]
  torch::Tensor x_;      // [L, fit rows, D]: a view of the rows that are fitted
  LogisticSolverOptions options_;
  std::int64_t layers_ = 0, samples_ = 0 /* fitted rows */, dim_ = 0, problems_ = 0, rank_ = 0;
  bool full_basis_ = false;
  torch::Tensor mean_, scale_, inv_scale_, loss_weight_, targets_;
  torch::Tensor basis_;         // [L, D, k] float64: deflation directions in the features' units
  torch::Tensor basis_images_;  // [L, P, k, N fitted] float64: X_s (scale_p * basis)
  torch::Tensor basis_gram_;    // [L, P, k, k] float64: basis^T diag(scale_p^2) basis
};

void BatchSolver::build_deflation_basis(const LogisticBatchProblem& problem, const torch::Tensor& split) {
  const torch::Tensor centre = problem.sketch_mean.to(torch::kFloat);  // [L, D]
  const torch::Tensor spread = problem.sketch_scale.to(torch::kFloat);
  full_basis_ = dim_ <= options_.full_basis_dim;
  if (full_basis_) {
    rank_ = dim_;
    basis_ = torch::diag_embed(1.0 / spread.to(torch::kDouble));  // [L, D, D]
  } else {
    // Randomized range finder with one power iteration on (X - centre) / spread, over an evenly
    // spaced subsample of the rows: the leading directions are separated from the bulk by large
    // gaps in LLM states, so one iteration and a few hundred rows find them.
    rank_ = std::min<std::int64_t>(options_.deflation_rank, dim_);
    const std::int64_t step = std::max<std::int64_t>(1, samples_ / std::max(options_.sketch_rows, 1));
    const torch::Tensor sample = x_.slice(1, 0, samples_, step);  // [L, S, D]: a strided view, no copy
    const std::int64_t rows = sample.size(1);
    std::vector<float> omega_values(static_cast<std::size_t>(layers_ * rank_ * rows));
    for (std::int64_t l = 0; l < layers_; ++l) {
      Rng rng(options_.sketch_seeds[static_cast<std::size_t>(l)]);
      for (std::int64_t j = 0; j < rank_ * rows; ++j) {
        omega_values[static_cast<std::size_t>(l * rank_ * rows + j)] = static_cast<float>(rng.normal());
      }
    }
    const torch::Tensor omega = torch::from_blob(omega_values.data(), {layers_, rank_, rows}, torch::kFloat);
    auto xt_times = [&](const torch::Tensor& r) {  // ((S - centre) / spread)^T r^T: [L, k, S] -> [L, k, D]
      return (torch::matmul(r, sample) - r.sum(-1, true) * centre.unsqueeze(1)) / spread.unsqueeze(1);
    };
    const torch::Tensor z = xt_times(omega);  // [L, k, D]
    const torch::Tensor zs = z / spread.unsqueeze(1);
    const torch::Tensor y = torch::matmul(zs, sample.transpose(1, 2)) - (zs * centre.unsqueeze(1)).sum(-1, true);  // [L, k, S]
    const torch::Tensor z2 = xt_times(y).to(torch::kDouble);                                    // [L, k, D]
    // Orthonormal rows by Cholesky QR (R^T R = z2 z2^T): a k x k factorisation instead of a
    // Householder QR of D x k; the tiny ridge keeps it defined when the sketch is rank deficient.
    torch::Tensor gram = torch::matmul(z2, z2.transpose(1, 2));  // [L, k, k]
    const torch::Tensor trace = gram.diagonal(0, -2, -1).sum(-1, true).unsqueeze(-1);
    gram = gram + (1e-12 * trace / static_cast<double>(rank_) + 1e-300) * torch::eye(rank_, torch::kDouble);
    const torch::Tensor factor = torch::linalg_cholesky(gram);  // lower: gram = F F^T
    const torch::Tensor orthonormal = torch::linalg_solve_triangular(factor, z2, /*upper=*/false);  // [L, k, D]
    basis_ = orthonormal.transpose(1, 2) / spread.to(torch::kDouble).unsqueeze(-1);                 // [L, D, k]
  }
  // Images and Gram matrices per problem: X_s (scale_p * v) = (X - mean_p) v.
  std::vector<torch::Tensor> images;
  for (std::int64_t l = 0; l < layers_; ++l) {
    images.push_back(times_rows(x_[l], basis_[l].t().to(torch::kFloat).contiguous()));  // [k, N]
  }
  const torch::Tensor offsets = torch::matmul(mean_.to(torch::kDouble), basis_);  // [L, P, k]
  basis_images_ = torch::stack(images).to(torch::kDouble).unsqueeze(1) - offsets.unsqueeze(-1);
  std::vector<torch::Tensor> grams;
  const torch::Tensor split_scale = problem.scale.to(torch::kDouble);  // [L, F, D]
  for (std::int64_t l = 0; l < layers_; ++l) {
    const torch::Tensor scaled = basis_[l].unsqueeze(0) * split_scale[l].square().unsqueeze(-1);  // [F, D, k]
    grams.push_back(torch::matmul(scaled.transpose(1, 2), basis_[l]).index_select(0, split));      // [P, k, k]
  }
  basis_gram_ = torch::stack(grams);
}

LogisticBatchSolution BatchSolver::solve() {
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  // The subspace, kept in fixed buffers: q = k deflation directions, `memory` past steps (a ring;
  // zero until filled) and the current gradient. Directions in w live in `vectors` (steps and
  // gradient; the deflation part is basis_ x scale); their images X_s v on the fitted rows in `images`.
  const std::int64_t memory = full_basis_ ? 0 : std::max(0, options_.memory);
  const std::int64_t extra = full_basis_ ? 0 : memory + 1;
  const std::int64_t q = rank_ + extra;
  torch::Tensor images = torch::zeros({layers_, problems_, q, samples_}, f64);
  images.narrow(2, 0, rank_).copy_(basis_images_);
  torch::Tensor vectors = torch::zeros({layers_, problems_, extra, dim_}, f64);
  torch::Tensor gram = torch::zeros({layers_, problems_, q, q}, f64);
  gram.narrow(2, 0, rank_).narrow(3, 0, rank_).copy_(basis_gram_);

  torch::Tensor w = torch::zeros({layers_, problems_, dim_}, f64);
  torch::Tensor bias = torch::zeros({layers_, problems_}, f64);
  torch::Tensor margins = torch::zeros({layers_, problems_, samples_}, f64);
  torch::Tensor active = torch::ones({layers_, problems_}, torch::kBool);
  torch::Tensor converged = torch::zeros({layers_, problems_}, torch::kBool);
  torch::Tensor iterations = torch::zeros({layers_, problems_}, torch::kLong);
  torch::Tensor current = objective(margins, w);
  torch::Tensor initial_norm;
  const torch::Tensor identity = torch::eye(q + 1, f64);
  const double eps = std::numeric_limits<double>::epsilon();

  torch::Tensor lowest_norm, milestone_norm, since_milestone;
  torch::Tensor best_w = w.clone();
  torch::Tensor best_bias = bias.clone();
  for (int iteration = 0; iteration <= options_.max_iterations; ++iteration) {
    if (iteration > 0 && iteration % kRefreshEvery == 0) {
      // The margins are updated from the images of the steps; recomputing them now and then keeps
      // float32 rounding in the images from accumulating.
      margins = apply(w) + bias.unsqueeze(-1);
      current = objective(margins, w);
    }
    const torch::Tensor p_wrong = torch::sigmoid(-targets_ * margins);  // [L, P, N]
    const torch::Tensor residual = -loss_weight_ * targets_ * p_wrong;  // d(loss)/d(margin)
    const torch::Tensor gradient = apply_transpose(residual) + w;       // [L, P, D]
    const torch::Tensor gradient_bias = residual.sum(-1);               // [L, P]
    const torch::Tensor norm = (gradient.square().sum(-1) + gradient_bias.square()).sqrt();
    if (iteration == 0) {
      initial_norm = norm.clamp_min(std::numeric_limits<double>::min());
      lowest_norm = norm.clone();
      milestone_norm = norm.clone();
      since_milestone = torch::zeros_like(iterations);
    }
    // The iterate with the smallest gradient so far is the one returned: at the floor of float32
    // precision the steps turn to rounding noise and may wander off it.
    const torch::Tensor record = active & (norm < lowest_norm);
    lowest_norm = torch::where(record, norm, lowest_norm);
    best_w = torch::where(record.unsqueeze(-1), w, best_w);
    best_bias = torch::where(record, bias, best_bias);
    const torch::Tensor done = norm <= options_.tolerance * initial_norm;
    converged = converged | (active & done);
    active = active & ~done;
    // A problem whose gradient has not halved in kPatience iterations has reached that floor and
    // stops (counted as converged when its best is within 100 x the tolerance).
    const torch::Tensor halved = norm < 0.5 * milestone_norm;
    milestone_norm = torch::where(halved, norm, milestone_norm);
    since_milestone = torch::where(halved, torch::zeros_like(since_milestone), since_milestone + 1);
    const torch::Tensor stuck = active & (since_milestone >= kPatience);
    converged = converged | (stuck & (lowest_norm <= 100 * options_.tolerance * initial_norm));
    active = active & ~stuck;
    if (!active.any().item<bool>() || iteration == options_.max_iterations) break;
    iterations += active.to(torch::kLong);

    if (extra > 0) {
      vectors.select(2, memory).copy_(gradient);
      images.select(2, q - 1).copy_(apply(gradient));
      // Inner products of the new gradient with every direction (the rest of the Gram is kept).
      const torch::Tensor with_basis = torch::matmul((gradient * scale_).unsqueeze(2), basis_.unsqueeze(1));  // [L, P, 1, k]
      const torch::Tensor with_vectors = torch::matmul(gradient.unsqueeze(2), vectors.transpose(-1, -2));     // [L, P, 1, m+1]
      const torch::Tensor row = torch::cat({with_basis, with_vectors}, -1).squeeze(2);                        // [L, P, q]
      gram.select(2, q - 1).copy_(row);
      gram.select(3, q - 1).copy_(row);
    }
    // b_j . w for every direction.
    torch::Tensor basis_dot_w = torch::matmul((w * scale_).unsqueeze(2), basis_.unsqueeze(1)).squeeze(2);  // [L, P, k]
    if (extra > 0) basis_dot_w = torch::cat({basis_dot_w, torch::matmul(vectors, w.unsqueeze(-1)).squeeze(-1)}, -1);

    // One damped Newton step on the subspace problem over (beta, intercept), from beta = 0; the
    // directions are rescaled to unit length, on the small matrices only.
    const torch::Tensor diagonal = gram.diagonal(0, -2, -1);
    const torch::Tensor length = torch::where(diagonal > 0, diagonal.sqrt(), torch::ones_like(diagonal));  // [L, P, q]
    const torch::Tensor curvature = loss_weight_ * p_wrong * (1 - p_wrong);                               // [L, P, N]
    const torch::Tensor weighted = images * curvature.sqrt().unsqueeze(2);                                // [L, P, q, N]
    torch::Tensor hessian_qq = torch::matmul(weighted, weighted.transpose(-1, -2)) + gram;
    torch::Tensor hessian_qb = torch::matmul(images, curvature.unsqueeze(-1));                 // [L, P, q, 1]
    const torch::Tensor hessian_bb = curvature.sum(-1, true).unsqueeze(-1);                    // [L, P, 1, 1]
    const torch::Tensor inverse_length = 1.0 / length;
    hessian_qq = hessian_qq * inverse_length.unsqueeze(-1) * inverse_length.unsqueeze(-2);
    hessian_qb = hessian_qb * inverse_length.unsqueeze(-1);
    torch::Tensor hessian = torch::cat({torch::cat({hessian_qq, hessian_qb}, -1),
                                        torch::cat({hessian_qb.transpose(-1, -2), hessian_bb}, -1)},
                                       -2);  // [L, P, q+1, q+1]
    const torch::Tensor sub_gradient = torch::cat(
        {(torch::matmul(images, residual.unsqueeze(-1)).squeeze(-1) + basis_dot_w) * inverse_length,
         gradient_bias.unsqueeze(-1)},
        -1);  // [L, P, q+1]
    const torch::Tensor ridge = 1e-10 * std::get<0>(hessian.diagonal(0, -2, -1).max(-1)) + 1e-300;
    hessian = hessian + ridge.unsqueeze(-1).unsqueeze(-1) * identity;
    torch::Tensor direction = -torch::linalg_solve(hessian, sub_gradient.unsqueeze(-1)).squeeze(-1);
    torch::Tensor slope = (sub_gradient * direction).sum(-1);
    const torch::Tensor uphill = ~(slope < 0) | ~direction.isfinite().all(-1);  // numerical trouble: steepest descent
    direction = torch::where(uphill.unsqueeze(-1), -sub_gradient, direction);
    slope = torch::where(uphill, -sub_gradient.square().sum(-1), slope);
    direction = direction * active.unsqueeze(-1).to(torch::kDouble);

    // Back to unscaled coefficients: beta (per direction) and the intercept change.
    const torch::Tensor beta = direction.narrow(-1, 0, q) * inverse_length;  // [L, P, q]
    const torch::Tensor bias_direction = direction.select(-1, q);
    const torch::Tensor image_change = torch::matmul(beta.unsqueeze(2), images).squeeze(2);  // [L, P, N], no intercept
    const torch::Tensor margin_change = image_change + bias_direction.unsqueeze(-1);
    const torch::Tensor linear = (beta * basis_dot_w).sum(-1);
    const torch::Tensor quadratic =
        torch::matmul(beta.unsqueeze(-2), torch::matmul(gram, beta.unsqueeze(-1))).squeeze(-1).squeeze(-1);

    // Backtracking (Armijo) along the direction; the objective is cheap on the images.
    const torch::Tensor w_norm = 0.5 * (w * w).sum(-1);
    torch::Tensor step = torch::ones({layers_, problems_}, f64);
    torch::Tensor accepted = ~active;
    torch::Tensor next = current.clone();
    for (int halving = 0; halving < 60 && !accepted.all().item<bool>(); ++halving) {
      const torch::Tensor t = step.unsqueeze(-1);
      const torch::Tensor trial = (loss_weight_ * stable_softplus(-targets_ * (margins + t * margin_change))).sum(-1) +
                                  w_norm + step * linear + 0.5 * step * step * quadratic;
      const torch::Tensor ok = ~accepted & (trial <= current + 1e-4 * step * slope + 8 * eps * current.abs());
      next = torch::where(ok, trial, next);
      accepted = accepted | ok;
      step = torch::where(accepted, step, 0.5 * step);
    }
    step = torch::where(accepted & active, step, torch::zeros_like(step));
    const torch::Tensor stalled = active & (step == 0);

    // The step in w: deflation part, past steps and gradient.
    const torch::Tensor scaled_beta = step.unsqueeze(-1) * beta;  // [L, P, q]
    torch::Tensor change =
        torch::matmul(scaled_beta.narrow(-1, 0, rank_).unsqueeze(2), basis_.transpose(1, 2).unsqueeze(1)).squeeze(2) *
        scale_;
    if (extra > 0) {
      change = change + torch::matmul(scaled_beta.narrow(-1, rank_, extra).unsqueeze(2), vectors).squeeze(2);
    }
    w = w + change;
    bias = bias + step * bias_direction;
    margins = margins + step.unsqueeze(-1) * margin_change;
    current = next;
    if (memory > 0) {
      // The step joins the ring; its products with every direction follow from the Gram.
      const std::int64_t slot = rank_ + iteration % memory;
      const torch::Tensor products = torch::matmul(gram, scaled_beta.unsqueeze(-1)).squeeze(-1);  // [L, P, q]
      const torch::Tensor self = (scaled_beta * products).sum(-1);
      vectors.select(2, slot - rank_).copy_(change);
      images.select(2, slot).copy_(step.unsqueeze(-1) * image_change);
      gram.select(2, slot).copy_(products);
      gram.select(3, slot).copy_(products);
      gram.select(2, slot).select(2, slot).copy_(self);
    }
    // A step the line search cannot make is the end of float precision: stop there.
    converged = converged | (stalled & (lowest_norm <= 100 * options_.tolerance * initial_norm));
    active = active & ~stalled;
  }

  LogisticBatchSolution solution;
  solution.objective = objective(apply(best_w) + best_bias.unsqueeze(-1), best_w);
  solution.margins = apply(best_w, /*all_rows=*/true) + best_bias.unsqueeze(-1);  // exact
  solution.weights = best_w;
  solution.bias = best_bias;
  solution.iterations = iterations;
  solution.converged = converged;
  return solution;
}

}  // namespace

LogisticBatchSolution solve_logistic_batch(const LogisticBatchProblem& problem, const LogisticSolverOptions& options) {
  torch::NoGradGuard no_grad;
  BatchSolver solver(problem, options);
  return solver.solve();
}

}  // namespace privprobe
