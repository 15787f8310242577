#include "probe/logistic_batch.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "probe/dense.h"
#include "probe/logistic_solver.h"
#include "util/rng.h"

namespace privprobe {
namespace logistic_detail {
namespace {

// OpenBLAS's sgemm is slower for a handful of right-hand sides than that many sgemv calls
// (measured with Debian's 0.3.21: [2, 4096] x [4096, 800] takes 6x one matrix-vector product),
// so small batches of vectors go one by one.
constexpr std::int64_t kMatrixVectorLimit = 8;

// out [P, N] = w [P, D] x^T for x [N, D], all float32 row-major.
void times_rows(const float* x, std::int64_t rows, std::int64_t dim, const float* w, std::int64_t count, float* out) {
  if (count > kMatrixVectorLimit) {
    dense::gemm(false, true, count, rows, dim, 1.0F, w, dim, x, dim, 0.0F, out, rows);
    return;
  }
  for (std::int64_t p = 0; p < count; ++p) dense::gemv(false, rows, dim, x, dim, w + p * dim, out + p * rows);
}

// out [P, D] = r [P, N] x for x [N, D], all float32 row-major.
void times_cols(const float* x, std::int64_t rows, std::int64_t dim, const float* r, std::int64_t count, float* out) {
  if (count > kMatrixVectorLimit) {
    dense::gemm(false, false, count, dim, rows, 1.0F, r, rows, x, dim, 0.0F, out, dim);
    return;
  }
  for (std::int64_t p = 0; p < count; ++p) dense::gemv(true, rows, dim, x, dim, r + p * rows, out + p * dim);
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("solve_logistic_batch: " + what);
}

}  // namespace

BatchSolver::BatchSolver(const LogisticBatchProblem& problem, const LogisticSolverOptions& options) : options_(options) {
  layers_ = problem.layers;
  all_rows_ = problem.rows;
  dim_ = problem.dim;
  samples_ = problem.fit_rows > 0 ? problem.fit_rows : all_rows_;
  problems_ = static_cast<std::int64_t>(problem.split_of.size());
  const std::int64_t splits = problem.splits;
  require(problem.features != nullptr && layers_ > 0 && all_rows_ > 0 && dim_ > 0, "features: [L, N, D], none empty");
  require(samples_ <= all_rows_, "fit_rows beyond the rows");
  require(problem.train_mask.size() == at(splits * all_rows_), "train_mask: [F, N]");
  require(problem.mean.size() == at(layers_ * splits * dim_) && problem.scale.size() == problem.mean.size(),
          "mean and scale: [L, F, D]");
  require(problem.targets.size() == at(problems_ * all_rows_), "targets: [P, N]");
  require(problem.sketch_mean.size() == at(layers_ * dim_) && problem.sketch_scale.size() == problem.sketch_mean.size(),
          "sketch_mean and sketch_scale: [L, D]");
  require(options.sketch_seeds.size() == at(layers_), "one sketch seed per layer");
  for (std::int64_t f : problem.split_of) require(f >= 0 && f < splits, "split_of: a split in [0, F)");
  x_ = problem.features;
  const std::int64_t count = layers_ * problems_;
  mean_.resize(at(count * dim_));
  scale_.resize(at(count * dim_));
  inv_scale_.resize(at(count * dim_));
  for (std::int64_t l = 0; l < layers_; ++l) {
    for (std::int64_t p = 0; p < problems_; ++p) {
      const std::int64_t from = (l * splits + problem.split_of[at(p)]) * dim_;
      const std::int64_t to = (l * problems_ + p) * dim_;
      for (std::int64_t j = 0; j < dim_; ++j) {
        mean_[at(to + j)] = problem.mean[at(from + j)];
        scale_[at(to + j)] = problem.scale[at(from + j)];
        inv_scale_[at(to + j)] = 1.0 / scale_[at(to + j)];
      }
    }
  }
  loss_weight_.resize(at(problems_ * samples_));
  targets_.resize(at(problems_ * samples_));
  for (std::int64_t p = 0; p < problems_; ++p) {
    for (std::int64_t i = 0; i < samples_; ++i) {
      loss_weight_[at(p * samples_ + i)] = options.C * problem.train_mask[at(problem.split_of[at(p)] * all_rows_ + i)];
      targets_[at(p * samples_ + i)] = problem.targets[at(p * all_rows_ + i)];
    }
  }
  build_deflation_basis(problem);
}

void BatchSolver::build_deflation_basis(const LogisticBatchProblem& problem) {
  const std::int64_t d = dim_;
  full_basis_ = d <= options_.full_basis_dim;
  if (full_basis_) {
    rank_ = d;
    basis_.assign(at(layers_ * d * d), 0.0);
    for (std::int64_t l = 0; l < layers_; ++l) {
      for (std::int64_t j = 0; j < d; ++j) {
        basis_[at((l * d + j) * d + j)] = 1.0 / static_cast<double>(problem.sketch_scale[at(l * d + j)]);
      }
    }
  } else {
    // Randomized range finder with one power iteration on (X - centre) / spread, over an evenly
    // spaced subsample of the rows: the leading directions are separated from the bulk by large
    // gaps in LLM states, so one iteration and a few hundred rows find them.
    rank_ = std::min<std::int64_t>(options_.deflation_rank, d);
    const std::int64_t k = rank_;
    const std::int64_t step = std::max<std::int64_t>(1, samples_ / std::max(options_.sketch_rows, 1));
    const std::int64_t rows = (samples_ + step - 1) / step;  // rows 0, step, 2 step, ... of the fitted ones
    basis_.assign(at(layers_ * d * k), 0.0);
    std::vector<float> omega(at(k * rows)), z(at(k * d)), y(at(k * rows)), z2f(at(k * d));
    std::vector<double> z2(at(k * d)), gram(at(k * k));
    for (std::int64_t l = 0; l < layers_; ++l) {
      const float* sample = layer_features(l);  // row i of the subsample: sample + i * step * d
      const float* centre = problem.sketch_mean.data() + l * d;
      const float* spread = problem.sketch_scale.data() + l * d;
      Rng rng(options_.sketch_seeds[at(l)]);
      for (float& value : omega) value = static_cast<float>(rng.normal());
      // ((S - centre) / spread)^T r^T for r [k, S] -> out [k, D].
      const auto xt_times = [&](const std::vector<float>& r, std::vector<float>& out) {
        dense::gemm(false, false, k, d, rows, 1.0F, r.data(), rows, sample, step * d, 0.0F, out.data(), d);
        for (std::int64_t i = 0; i < k; ++i) {
          float total = 0;
          for (std::int64_t s = 0; s < rows; ++s) total += r[at(i * rows + s)];
          for (std::int64_t j = 0; j < d; ++j) out[at(i * d + j)] = (out[at(i * d + j)] - total * centre[j]) / spread[j];
        }
      };
      xt_times(omega, z);
      for (std::int64_t i = 0; i < k; ++i) {
        for (std::int64_t j = 0; j < d; ++j) z[at(i * d + j)] /= spread[j];
      }
      dense::gemm(false, true, k, rows, d, 1.0F, z.data(), d, sample, step * d, 0.0F, y.data(), rows);
      for (std::int64_t i = 0; i < k; ++i) {
        float shift = 0;
        for (std::int64_t j = 0; j < d; ++j) shift += z[at(i * d + j)] * centre[j];
        for (std::int64_t s = 0; s < rows; ++s) y[at(i * rows + s)] -= shift;
      }
      xt_times(y, z2f);
      std::copy(z2f.begin(), z2f.end(), z2.begin());
      // Orthonormal rows by Cholesky QR (R^T R = z2 z2^T): a k x k factorisation instead of a
      // Householder QR of D x k; the tiny ridge keeps it defined when the sketch is rank deficient.
      dense::gemm(false, true, k, k, d, 1.0, z2.data(), d, z2.data(), d, 0.0, gram.data(), k);
      double trace = 0;
      for (std::int64_t i = 0; i < k; ++i) trace += gram[at(i * k + i)];
      for (std::int64_t i = 0; i < k; ++i) gram[at(i * k + i)] += 1e-12 * trace / static_cast<double>(k) + 1e-300;
      if (!dense::cholesky_lower(k, gram.data())) {
        throw std::runtime_error("solve_logistic_batch: the deflation sketch of layer " + std::to_string(l) +
                                 " is not positive definite (non-finite features?)");
      }
      dense::solve_lower(k, d, gram.data(), z2.data());  // z2 now holds orthonormal rows [k, D]
      for (std::int64_t j = 0; j < d; ++j) {
        for (std::int64_t i = 0; i < k; ++i) {
          basis_[at((l * d + j) * k + i)] = z2[at(i * d + j)] / static_cast<double>(spread[j]);
        }
      }
    }
  }
  // Images and Gram matrices per problem: X_s (scale_p * v) = (X - mean_p) v.
  const std::int64_t k = rank_;
  const std::int64_t splits = problem.splits;
  basis_images_.assign(at(layers_ * problems_ * k * samples_), 0.0);
  basis_gram_.assign(at(layers_ * problems_ * k * k), 0.0);
  std::vector<float> transposed(at(k * dim_)), images(at(k * samples_));
  std::vector<double> scaled(at(dim_ * k)), split_grams(at(splits * k * k));
  for (std::int64_t l = 0; l < layers_; ++l) {
    const double* basis = basis_.data() + l * dim_ * k;
    for (std::int64_t j = 0; j < dim_; ++j) {
      for (std::int64_t i = 0; i < k; ++i) transposed[at(i * dim_ + j)] = static_cast<float>(basis[j * k + i]);
    }
    times_rows(layer_features(l), samples_, dim_, transposed.data(), k, images.data());  // [k, N]
    for (std::int64_t p = 0; p < problems_; ++p) {
      const float* mean = mean_.data() + (l * problems_ + p) * dim_;
      double* out = basis_images_.data() + (l * problems_ + p) * k * samples_;
      for (std::int64_t i = 0; i < k; ++i) {
        double offset = 0;
        for (std::int64_t j = 0; j < dim_; ++j) offset += static_cast<double>(mean[j]) * basis[j * k + i];
        for (std::int64_t r = 0; r < samples_; ++r) out[i * samples_ + r] = static_cast<double>(images[at(i * samples_ + r)]) - offset;
      }
    }
    for (std::int64_t f = 0; f < splits; ++f) {
      const float* scale = problem.scale.data() + (l * splits + f) * dim_;
      for (std::int64_t j = 0; j < dim_; ++j) {
        const double factor = static_cast<double>(scale[j]) * static_cast<double>(scale[j]);
        for (std::int64_t i = 0; i < k; ++i) scaled[at(j * k + i)] = basis[j * k + i] * factor;
      }
      dense::gemm(true, false, k, k, dim_, 1.0, scaled.data(), k, basis, k, 0.0, split_grams.data() + f * k * k, k);
    }
    for (std::int64_t p = 0; p < problems_; ++p) {
      const double* from = split_grams.data() + problem.split_of[at(p)] * k * k;
      std::copy(from, from + k * k, basis_gram_.begin() + (l * problems_ + p) * k * k);
    }
  }
}

void BatchSolver::apply_into(const double* v, bool all_rows, double* out, std::int64_t out_stride) const {
  const std::int64_t rows = all_rows ? all_rows_ : samples_;
  // The direction in the features' units, rounded to float32 as the pass reads it; the centre's
  // share is then subtracted from the product with the same rounded values.
  std::vector<float> raw(at(layers_ * problems_ * dim_));
  std::vector<float> product(at(problems_ * rows));
  std::vector<double> offset(at(layers_ * problems_));
  for (std::int64_t lp = 0; lp < layers_ * problems_; ++lp) {
    double sum = 0;
    for (std::int64_t j = lp * dim_; j < (lp + 1) * dim_; ++j) {
      raw[at(j)] = static_cast<float>(v[j] * inv_scale_[at(j)]);
      sum += static_cast<double>(mean_[at(j)]) * static_cast<double>(raw[at(j)]);
    }
    offset[at(lp)] = sum;
  }
  for (std::int64_t l = 0; l < layers_; ++l) {
    times_rows(layer_features(l), rows, dim_, raw.data() + l * problems_ * dim_, problems_, product.data());
    for (std::int64_t p = 0; p < problems_; ++p) {
      const std::int64_t lp = l * problems_ + p;
      double* target = out + lp * out_stride;
      const double shift = offset[at(lp)];
      for (std::int64_t i = 0; i < rows; ++i) target[i] = static_cast<double>(product[at(p * rows + i)]) - shift;
    }
  }
}

void BatchSolver::gradient_into(const double* residual, const double* r_sum, const double* w, double* gradient) const {
  std::vector<float> rounded(at(layers_ * problems_ * samples_));
  for (std::size_t i = 0; i < rounded.size(); ++i) rounded[i] = static_cast<float>(residual[i]);
  std::vector<float> product(at(problems_ * dim_));
  for (std::int64_t l = 0; l < layers_; ++l) {
    times_cols(layer_features(l), samples_, dim_, rounded.data() + l * problems_ * samples_, problems_, product.data());
    for (std::int64_t p = 0; p < problems_; ++p) {
      const std::int64_t lp = l * problems_ + p;
      const double total = r_sum[lp];
      for (std::int64_t j = 0; j < dim_; ++j) {
        const std::int64_t index = lp * dim_ + j;
        gradient[index] = (static_cast<double>(product[at(p * dim_ + j)]) - static_cast<double>(mean_[at(index)]) * total) *
                              inv_scale_[at(index)] +
                          w[index];
      }
    }
  }
}

std::vector<double> BatchSolver::objective(const double* margins, const double* w) const {
  std::vector<double> value(at(layers_ * problems_));
  for (std::int64_t lp = 0; lp < layers_ * problems_; ++lp) {
    const std::int64_t row0 = (lp % problems_) * samples_;
    double loss = 0;
    for (std::int64_t i = 0; i < samples_; ++i) {
      loss += loss_weight_[at(row0 + i)] * softplus(-targets_[at(row0 + i)] * margins[lp * samples_ + i]);
    }
    value[at(lp)] = loss + 0.5 * squared_norm(w + lp * dim_, dim_);
  }
  return value;
}

}  // namespace logistic_detail

LogisticBatchSolution solve_logistic_batch(const LogisticBatchProblem& problem, const LogisticSolverOptions& options) {
  logistic_detail::BatchSolver solver(problem, options);
  return solver.solve();
}

}  // namespace privprobe
