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
double softplus(double z) { return std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z))); }

// 1 / (1 + exp(-z)) without overflow.
double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

double squared_norm(const double* v, std::int64_t size) {
  double sum = 0;
  for (std::int64_t i = 0; i < size; ++i) sum += v[i] * v[i];
  return sum;
}

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
    mean_ = problem.mean.index_select(1, split).contiguous();                         // [L, P, D] float32
    scale_ = problem.scale.index_select(1, split).to(torch::kDouble).contiguous();   // [L, P, D]
    inv_scale_ = (1.0 / scale_).contiguous();
    loss_weight_ = (options.C * problem.train_mask.index_select(0, split).narrow(1, 0, samples_)).contiguous();  // [P, N]
    targets_ = problem.targets.to(torch::kDouble).narrow(1, 0, samples_).contiguous();                         // [P, N]
    build_deflation_basis(problem, split);
  }

  LogisticBatchSolution solve();

 private:
  // X_s v for directions v [L*P, D] float64 -> out[lp * out_stride + row] float64 (no bias), on the
  // fitted rows or on all rows.
  void apply_into(const double* v, bool all_rows, double* out, std::int64_t out_stride) const;

  // gradient = X_s^T r + w for residuals r [L*P, N] float64 with row sums r_sum [L*P]: all [L*P, D].
  void gradient_into(const double* residual, const double* r_sum, const double* w, double* gradient) const;

  // Per problem: sum of C * mask * log(1 + exp(-y m)) over the fitted rows, plus 0.5 ||w||^2.
  std::vector<double> objective(const double* margins, const double* w) const;

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

void BatchSolver::apply_into(const double* v, bool all_rows, double* out, std::int64_t out_stride) const {
  const torch::Tensor& x = all_rows ? all_x_ : x_;
  const std::int64_t rows = x.size(1);
  const double* inv_scale = inv_scale_.data_ptr<double>();
  const float* mean = mean_.data_ptr<float>();
  // The direction in the features' units, rounded to float32 as the pass reads it; the centre's
  // share is then subtracted from the product with the same rounded values.
  torch::Tensor raw = torch::empty({layers_, problems_, dim_}, torch::kFloat);
  float* raw_data = raw.data_ptr<float>();
  std::vector<double> offset(static_cast<std::size_t>(layers_ * problems_));
  for (std::int64_t lp = 0; lp < layers_ * problems_; ++lp) {
    double sum = 0;
    for (std::int64_t j = lp * dim_; j < (lp + 1) * dim_; ++j) {
      raw_data[j] = static_cast<float>(v[j] * inv_scale[j]);
      sum += static_cast<double>(mean[j]) * static_cast<double>(raw_data[j]);
    }
    offset[static_cast<std::size_t>(lp)] = sum;
  }
  for (std::int64_t l = 0; l < layers_; ++l) {
    const torch::Tensor product = times_rows(x[l], raw[l]).contiguous();  // [P, rows] float32
    const float* values = product.data_ptr<float>();
    for (std::int64_t p = 0; p < problems_; ++p) {
      const std::int64_t lp = l * problems_ + p;
      double* target = out + lp * out_stride;
      const double shift = offset[static_cast<std::size_t>(lp)];
      for (std::int64_t i = 0; i < rows; ++i) target[i] = static_cast<double>(values[p * rows + i]) - shift;
    }
  }
}

void BatchSolver::gradient_into(const double* residual, const double* r_sum, const double* w, double* gradient) const {
  torch::Tensor rounded = torch::empty({layers_, problems_, samples_}, torch::kFloat);
  float* rounded_data = rounded.data_ptr<float>();
  for (std::int64_t i = 0; i < layers_ * problems_ * samples_; ++i) rounded_data[i] = static_cast<float>(residual[i]);
  const double* inv_scale = inv_scale_.data_ptr<double>();
  const float* mean = mean_.data_ptr<float>();
  for (std::int64_t l = 0; l < layers_; ++l) {
    const torch::Tensor product = times_cols(x_[l], rounded[l]).contiguous();  // [P, D] float32
    const float* values = product.data_ptr<float>();
    for (std::int64_t p = 0; p < problems_; ++p) {
      const std::int64_t lp = l * problems_ + p;
      const double total = r_sum[lp];
      for (std::int64_t j = 0; j < dim_; ++j) {
        const std::int64_t at = lp * dim_ + j;
        gradient[at] = (static_cast<double>(values[p * dim_ + j]) - static_cast<double>(mean[at]) * total) * inv_scale[at] + w[at];
      }
    }
  }
}

std::vector<double> BatchSolver::objective(const double* margins, const double* w) const {
  const double* loss_weight = loss_weight_.data_ptr<double>();
  const double* targets = targets_.data_ptr<double>();
  std::vector<double> value(static_cast<std::size_t>(layers_ * problems_));
  for (std::int64_t lp = 0; lp < layers_ * problems_; ++lp) {
    const std::int64_t p = lp % problems_;
    double loss = 0;
    for (std::int64_t i = 0; i < samples_; ++i) {
      loss += loss_weight[p * samples_ + i] * softplus(-targets[p * samples_ + i] * margins[lp * samples_ + i]);
    }
    value[static_cast<std::size_t>(lp)] = loss + 0.5 * squared_norm(w + lp * dim_, dim_);
  }
  return value;
}

// The iteration, with the problems flattened to lp = layer * P + problem. Products over the rows or
// the features go to BLAS through libtorch, batched over the problems; everything elementwise runs
// in plain loops over contiguous buffers, which costs a fraction of the ~150 small tensor
// operations per iteration it replaces (measured: 0.75 ms of dispatch per iteration against
// 0.6 ms for the two passes over the features).
LogisticBatchSolution BatchSolver::solve() {
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  // The subspace, kept in fixed buffers: k deflation directions, `memory` past steps (a ring; zero
  // until filled) and the current gradient. Directions in w live in `vectors` (steps and gradient;
  // the deflation part is basis_ x scale); their images X_s v on the fitted rows in `images`.
  const std::int64_t memory = full_basis_ ? 0 : std::max(0, options_.memory);
  const std::int64_t extra = full_basis_ ? 0 : memory + 1;
  const std::int64_t k = rank_;
  const std::int64_t q = k + extra;
  const std::int64_t q1 = q + 1;  // and the intercept
  const std::int64_t count = layers_ * problems_;
  const std::int64_t n = samples_;
  const std::int64_t d = dim_;
  const auto at = [](std::int64_t i) { return static_cast<std::size_t>(i); };

  torch::Tensor images = torch::zeros({count, q, n}, f64);
  images.narrow(1, 0, k).copy_(basis_images_.reshape({count, k, n}));
  torch::Tensor vectors = torch::zeros({count, extra, d}, f64);
  torch::Tensor gram = torch::zeros({count, q, q}, f64);
  gram.narrow(1, 0, k).narrow(2, 0, k).copy_(basis_gram_.reshape({count, k, k}));
  torch::Tensor w = torch::zeros({count, d}, f64);
  torch::Tensor best_w = torch::zeros({count, d}, f64);
  torch::Tensor margins = torch::zeros({count, n}, f64);
  // Per-iteration buffers.
  torch::Tensor residual = torch::empty({count, n}, f64);
  torch::Tensor curvature_residual = torch::empty({count, n, 2}, f64);  // (curvature, residual) per row
  torch::Tensor root_curvature = torch::empty({count, n}, f64);
  torch::Tensor gradient = torch::empty({count, d}, f64);
  torch::Tensor scaled = torch::empty({layers_, 2 * problems_, d}, f64);  // gradient and w times scale
  torch::Tensor plain = torch::empty({count, 2, d}, f64);                 // gradient and w
  torch::Tensor weighted = torch::empty({count, q, n}, f64);
  torch::Tensor hessian = torch::empty({count, q1, q1}, f64);
  torch::Tensor sub_gradient = torch::empty({count, q1, 1}, f64);
  torch::Tensor beta = torch::zeros({count, 1, q}, f64);         // per direction, unscaled
  torch::Tensor scaled_beta = torch::zeros({count, 1, q}, f64);  // times the step taken
  torch::Tensor change = torch::empty({count, d}, f64);
  double* images_data = images.data_ptr<double>();
  double* vectors_data = vectors.data_ptr<double>();
  double* gram_data = gram.data_ptr<double>();
  double* w_data = w.data_ptr<double>();
  double* margins_data = margins.data_ptr<double>();
  double* residual_data = residual.data_ptr<double>();
  double* cr_data = curvature_residual.data_ptr<double>();
  double* root_data = root_curvature.data_ptr<double>();
  double* gradient_data = gradient.data_ptr<double>();
  double* scaled_data = scaled.data_ptr<double>();
  double* plain_data = plain.data_ptr<double>();
  double* weighted_data = weighted.data_ptr<double>();
  double* hessian_data = hessian.data_ptr<double>();
  double* sub_data = sub_gradient.data_ptr<double>();
  double* beta_data = beta.data_ptr<double>();
  double* scaled_beta_data = scaled_beta.data_ptr<double>();
  double* change_data = change.data_ptr<double>();
  const double* scale = scale_.data_ptr<double>();
  const double* loss_weight = loss_weight_.data_ptr<double>();
  const double* targets = targets_.data_ptr<double>();

  std::vector<double> bias(at(count), 0.0), best_bias(at(count), 0.0), gradient_bias(at(count)), curvature_sum(at(count));
  std::vector<double> norm(at(count)), initial_norm(at(count)), lowest_norm(at(count)), milestone_norm(at(count));
  std::vector<double> basis_dot_w(at(count * q)), inverse_length(at(count * q)), linear(at(count)), quadratic(at(count));
  std::vector<double> slope(at(count)), bias_direction(at(count)), step(at(count)), next(at(count));
  std::vector<std::int64_t> since_milestone(at(count), 0), iterations(at(count), 0);
  std::vector<char> active(at(count), 1), converged(at(count), 0);
  std::vector<double> current = objective(margins_data, w_data);
  const double eps = std::numeric_limits<double>::epsilon();
  const double target_ratio = options_.tolerance;

  for (int iteration = 0; iteration <= options_.max_iterations; ++iteration) {
    if (iteration > 0 && iteration % kRefreshEvery == 0) {
      // The margins are updated from the images of the steps; recomputing them now and then keeps
      // float32 rounding in the images from accumulating.
      apply_into(w_data, /*all_rows=*/false, margins_data, n);
      for (std::int64_t lp = 0; lp < count; ++lp) {
        for (std::int64_t i = 0; i < n; ++i) margins_data[lp * n + i] += bias[at(lp)];
      }
      current = objective(margins_data, w_data);
    }
    // d(loss)/d(margin) and the curvature, per row.
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::int64_t row0 = (lp % problems_) * n;
      double residual_sum = 0, curvature_total = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double y = targets[row0 + i];
        const double weight = loss_weight[row0 + i];
        const double p_wrong = sigmoid(-y * margins_data[lp * n + i]);
        const double r = -weight * y * p_wrong;
        const double c = weight * p_wrong * (1 - p_wrong);
        residual_data[lp * n + i] = r;
        cr_data[2 * (lp * n + i)] = c;
        cr_data[2 * (lp * n + i) + 1] = r;
        root_data[lp * n + i] = std::sqrt(c);
        residual_sum += r;
        curvature_total += c;
      }
      gradient_bias[at(lp)] = residual_sum;
      curvature_sum[at(lp)] = curvature_total;
    }
    gradient_into(residual_data, gradient_bias.data(), w_data, gradient_data);
    for (std::int64_t lp = 0; lp < count; ++lp) {
      norm[at(lp)] = std::sqrt(squared_norm(gradient_data + lp * d, d) + gradient_bias[at(lp)] * gradient_bias[at(lp)]);
    }
    bool any_active = false;
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::size_t i = at(lp);
      if (iteration == 0) {
        initial_norm[i] = std::max(norm[i], std::numeric_limits<double>::min());
        lowest_norm[i] = norm[i];
        milestone_norm[i] = norm[i];
      }
      // The iterate with the smallest gradient so far is the one returned: at the floor of float32
      // precision the steps turn to rounding noise and may wander off it.
      if (active[i] && norm[i] < lowest_norm[i]) {
        lowest_norm[i] = norm[i];
        std::copy_n(w_data + lp * d, d, best_w.data_ptr<double>() + lp * d);
        best_bias[i] = bias[i];
      }
      if (active[i] && norm[i] <= target_ratio * initial_norm[i]) {
        converged[i] = 1;
        active[i] = 0;
      }
      // A problem whose gradient has not halved in kPatience iterations has reached that floor and
      // stops (counted as converged when its best is within 100 x the tolerance).
      if (norm[i] < 0.5 * milestone_norm[i]) {
        milestone_norm[i] = norm[i];
        since_milestone[i] = 0;
      } else {
        ++since_milestone[i];
      }
      if (active[i] && since_milestone[i] >= kPatience) {
        if (lowest_norm[i] <= 100 * target_ratio * initial_norm[i]) converged[i] = 1;
        active[i] = 0;
      }
      any_active = any_active || active[i];
    }
    if (!any_active || iteration == options_.max_iterations) break;
    for (std::int64_t lp = 0; lp < count; ++lp) iterations[at(lp)] += active[at(lp)];

    if (extra > 0) {
      for (std::int64_t lp = 0; lp < count; ++lp) std::copy_n(gradient_data + lp * d, d, vectors_data + (lp * extra + memory) * d);
      apply_into(gradient_data, /*all_rows=*/false, images_data + (q - 1) * n, q * n);
    }
    // Inner products of the gradient and of w with every direction: the deflation directions
    // through scale (one product per layer), the kept vectors directly (one batched product).
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::int64_t l = lp / problems_;
      const std::int64_t p = lp % problems_;
      double* scaled_gradient = scaled_data + (l * 2 * problems_ + p) * d;
      double* scaled_w = scaled_data + (l * 2 * problems_ + problems_ + p) * d;
      for (std::int64_t j = 0; j < d; ++j) {
        scaled_gradient[j] = gradient_data[lp * d + j] * scale[lp * d + j];
        scaled_w[j] = w_data[lp * d + j] * scale[lp * d + j];
      }
      if (extra > 0) {
        std::copy_n(gradient_data + lp * d, d, plain_data + 2 * lp * d);
        std::copy_n(w_data + lp * d, d, plain_data + (2 * lp + 1) * d);
      }
    }
    const torch::Tensor with_basis = torch::bmm(scaled, basis_).contiguous();  // [L, 2P, k]
    const double* with_basis_data = with_basis.data_ptr<double>();
    torch::Tensor with_vectors;  // [L*P, extra, 2]: (gradient, w)
    if (extra > 0) with_vectors = torch::bmm(vectors, plain.transpose(1, 2)).contiguous();
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::int64_t l = lp / problems_;
      const std::int64_t p = lp % problems_;
      double* dots = basis_dot_w.data() + lp * q;
      for (std::int64_t i = 0; i < k; ++i) dots[i] = with_basis_data[(l * 2 * problems_ + problems_ + p) * k + i];
      if (extra == 0) continue;
      const double* vector_dots = with_vectors.data_ptr<double>() + lp * extra * 2;
      for (std::int64_t i = 0; i < extra; ++i) dots[k + i] = vector_dots[2 * i + 1];
      double* g = gram_data + lp * q * q;
      for (std::int64_t i = 0; i < q; ++i) {
        const double value = i < k ? with_basis_data[(l * 2 * problems_ + p) * k + i] : vector_dots[2 * (i - k)];
        g[(q - 1) * q + i] = value;
        g[i * q + q - 1] = value;
      }
    }

    // One damped Newton step on the subspace problem over (beta, intercept), from beta = 0; the
    // directions are rescaled to unit length, on the small matrices only.
    for (std::int64_t lp = 0; lp < count; ++lp) {
      for (std::int64_t i = 0; i < q; ++i) {
        const double* image = images_data + (lp * q + i) * n;
        double* out = weighted_data + (lp * q + i) * n;
        for (std::int64_t r = 0; r < n; ++r) out[r] = image[r] * root_data[lp * n + r];
      }
    }
    const torch::Tensor curvature_products = torch::bmm(weighted, weighted.transpose(1, 2)).contiguous();  // [L*P, q, q]
    const torch::Tensor image_products = torch::bmm(images, curvature_residual).contiguous();              // [L*P, q, 2]
    const double* cp = curvature_products.data_ptr<double>();
    const double* ip = image_products.data_ptr<double>();
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const double* g = gram_data + lp * q * q;
      double* il = inverse_length.data() + lp * q;
      for (std::int64_t i = 0; i < q; ++i) {
        const double diagonal = g[i * q + i];
        il[i] = 1.0 / (diagonal > 0 ? std::sqrt(diagonal) : 1.0);
      }
      double* h = hessian_data + lp * q1 * q1;
      double* s = sub_data + lp * q1;
      for (std::int64_t i = 0; i < q; ++i) {
        for (std::int64_t j = 0; j < q; ++j) h[i * q1 + j] = (cp[(lp * q + i) * q + j] + g[i * q + j]) * il[i] * il[j];
        h[i * q1 + q] = h[q * q1 + i] = ip[(lp * q + i) * 2] * il[i];
        s[i] = (ip[(lp * q + i) * 2 + 1] + basis_dot_w[at(lp * q + i)]) * il[i];
      }
      h[q * q1 + q] = curvature_sum[at(lp)];
      s[q] = gradient_bias[at(lp)];
      double largest = h[0];
      for (std::int64_t i = 1; i < q1; ++i) largest = std::max(largest, h[i * q1 + i]);
      const double ridge = 1e-10 * largest + 1e-300;
      for (std::int64_t i = 0; i < q1; ++i) h[i * q1 + i] += ridge;
    }
    const torch::Tensor solved = torch::linalg_solve(hessian, sub_gradient).contiguous();  // [L*P, q1, 1]
    const double* solved_data = solved.data_ptr<double>();
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const double* s = sub_data + lp * q1;
      std::vector<double> direction(solved_data + lp * q1, solved_data + (lp + 1) * q1);
      double product = 0;
      bool finite = true;
      for (std::int64_t i = 0; i < q1; ++i) {
        direction[at(i)] = -direction[at(i)];
        product += s[i] * direction[at(i)];
        finite = finite && std::isfinite(direction[at(i)]);
      }
      if (!(product < 0) || !finite) {  // numerical trouble: steepest descent
        product = 0;
        for (std::int64_t i = 0; i < q1; ++i) {
          direction[at(i)] = -s[i];
          product -= s[i] * s[i];
        }
      }
      slope[at(lp)] = product;
      if (!active[at(lp)]) std::fill(direction.begin(), direction.end(), 0.0);
      // Back to unscaled coefficients: beta (per direction) and the intercept change.
      double* b = beta_data + lp * q;
      for (std::int64_t i = 0; i < q; ++i) b[i] = direction[at(i)] * inverse_length[at(lp * q + i)];
      bias_direction[at(lp)] = direction[at(q)];
      const double* g = gram_data + lp * q * q;
      double lin = 0, quad = 0;
      for (std::int64_t i = 0; i < q; ++i) {
        lin += b[i] * basis_dot_w[at(lp * q + i)];
        double row = 0;
        for (std::int64_t j = 0; j < q; ++j) row += g[i * q + j] * b[j];
        quad += b[i] * row;
      }
      linear[at(lp)] = lin;
      quadratic[at(lp)] = quad;
    }
    const torch::Tensor image_change = torch::bmm(beta, images).contiguous();  // [L*P, 1, N], no intercept
    const double* change_of_margin = image_change.data_ptr<double>();

    // Backtracking (Armijo) along the direction; the objective is cheap on the images.
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::size_t i = at(lp);
      step[i] = 0;
      next[i] = current[i];
      if (!active[i]) continue;
      const std::int64_t row0 = (lp % problems_) * n;
      const double w_norm = 0.5 * squared_norm(w_data + lp * d, d);
      double t = 1;
      for (int halving = 0; halving < 60; ++halving, t *= 0.5) {
        double loss = 0;
        for (std::int64_t r = 0; r < n; ++r) {
          const double moved = margins_data[lp * n + r] + t * (change_of_margin[lp * n + r] + bias_direction[i]);
          loss += loss_weight[row0 + r] * softplus(-targets[row0 + r] * moved);
        }
        const double trial = loss + w_norm + t * linear[i] + 0.5 * t * t * quadratic[i];
        if (trial <= current[i] + 1e-4 * t * slope[i] + 8 * eps * std::abs(current[i])) {
          step[i] = t;
          next[i] = trial;
          break;
        }
      }
    }

    // The step in w: deflation part (through scale), past steps and gradient.
    for (std::int64_t lp = 0; lp < count; ++lp) {
      for (std::int64_t i = 0; i < q; ++i) scaled_beta_data[lp * q + i] = step[at(lp)] * beta_data[lp * q + i];
    }
    const torch::Tensor basis_change =
        torch::bmm(scaled_beta.view({layers_, problems_, q}).narrow(2, 0, k), basis_.transpose(1, 2)).contiguous();  // [L, P, D]
    const double* basis_change_data = basis_change.data_ptr<double>();
    torch::Tensor vector_change;
    if (extra > 0) vector_change = torch::bmm(scaled_beta.narrow(2, k, extra), vectors).contiguous();  // [L*P, 1, D]
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::size_t i = at(lp);
      double* c = change_data + lp * d;
      for (std::int64_t j = 0; j < d; ++j) c[j] = basis_change_data[lp * d + j] * scale[lp * d + j];
      if (extra > 0) {
        const double* v = vector_change.data_ptr<double>() + lp * d;
        for (std::int64_t j = 0; j < d; ++j) c[j] += v[j];
      }
      for (std::int64_t j = 0; j < d; ++j) w_data[lp * d + j] += c[j];
      bias[i] += step[i] * bias_direction[i];
      for (std::int64_t r = 0; r < n; ++r) margins_data[lp * n + r] += step[i] * (change_of_margin[lp * n + r] + bias_direction[i]);
      current[i] = next[i];
      if (memory > 0) {
        // The step joins the ring; its products with every direction follow from the Gram.
        const std::int64_t slot = k + iteration % memory;
        double* g = gram_data + lp * q * q;
        const double* sb = scaled_beta_data + lp * q;
        std::vector<double> products(at(q), 0.0);
        double self = 0;
        for (std::int64_t a = 0; a < q; ++a) {
          for (std::int64_t b = 0; b < q; ++b) products[at(a)] += g[a * q + b] * sb[b];
          self += sb[a] * products[at(a)];
        }
        std::copy_n(c, d, vectors_data + (lp * extra + slot - k) * d);
        double* image = images_data + (lp * q + slot) * n;
        for (std::int64_t r = 0; r < n; ++r) image[r] = step[i] * change_of_margin[lp * n + r];
        for (std::int64_t a = 0; a < q; ++a) {
          g[slot * q + a] = products[at(a)];
          g[a * q + slot] = products[at(a)];
        }
        g[slot * q + slot] = self;
      }
      // A step the line search cannot make is the end of float precision: stop there.
      if (active[i] && step[i] == 0) {
        if (lowest_norm[i] <= 100 * target_ratio * initial_norm[i]) converged[i] = 1;
        active[i] = 0;
      }
    }
  }

  LogisticBatchSolution solution;
  torch::Tensor fitted_margins = torch::empty({count, n}, f64);
  apply_into(best_w.data_ptr<double>(), /*all_rows=*/false, fitted_margins.data_ptr<double>(), n);
  const std::int64_t all_rows = all_x_.size(1);
  torch::Tensor all_margins = torch::empty({count, all_rows}, f64);
  apply_into(best_w.data_ptr<double>(), /*all_rows=*/true, all_margins.data_ptr<double>(), all_rows);
  for (std::int64_t lp = 0; lp < count; ++lp) {
    for (std::int64_t r = 0; r < n; ++r) fitted_margins.data_ptr<double>()[lp * n + r] += best_bias[at(lp)];
    for (std::int64_t r = 0; r < all_rows; ++r) all_margins.data_ptr<double>()[lp * all_rows + r] += best_bias[at(lp)];
  }
  const std::vector<double> reached = objective(fitted_margins.data_ptr<double>(), best_w.data_ptr<double>());
  solution.objective = torch::tensor(reached, f64).view({layers_, problems_});
  solution.margins = all_margins.view({layers_, problems_, all_rows});  // exact
  solution.weights = best_w.view({layers_, problems_, d});
  solution.bias = torch::tensor(best_bias, f64).view({layers_, problems_});
  solution.iterations = torch::tensor(iterations, torch::kLong).view({layers_, problems_});
  solution.converged = torch::tensor(std::vector<std::int64_t>(converged.begin(), converged.end()), torch::kLong)
                           .view({layers_, problems_})
                           .to(torch::kBool);
  return solution;
}

}  // namespace

LogisticBatchSolution solve_logistic_batch(const LogisticBatchProblem& problem, const LogisticSolverOptions& options) {
  torch::NoGradGuard no_grad;
  BatchSolver solver(problem, options);
  return solver.solve();
}

}  // namespace privprobe
