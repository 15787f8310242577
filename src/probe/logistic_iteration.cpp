#include <algorithm>
#include <cmath>
#include <limits>

#include "probe/dense.h"
#include "probe/logistic_solver.h"

namespace privprobe::logistic_detail {

// The iteration, with the problems flattened to lp = layer * P + problem. Products over the rows or
// the features go to BLAS; everything elementwise runs in plain loops over contiguous buffers.
LogisticBatchSolution BatchSolver::solve() {
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

  std::vector<double> images(at(count * q * n), 0.0);
  std::vector<double> gram(at(count * q * q), 0.0);
  for (std::int64_t lp = 0; lp < count; ++lp) {
    std::copy_n(basis_images_.begin() + lp * k * n, k * n, images.begin() + lp * q * n);
    for (std::int64_t i = 0; i < k; ++i) std::copy_n(basis_gram_.begin() + (lp * k + i) * k, k, gram.begin() + (lp * q + i) * q);
  }
  std::vector<double> vectors(at(count * extra * d), 0.0);
  std::vector<double> w(at(count * d), 0.0), best_w(at(count * d), 0.0), margins(at(count * n), 0.0);
  // Per-iteration buffers.
  std::vector<double> residual(at(count * n)), curvature_residual(at(count * n * 2)), root_curvature(at(count * n));
  std::vector<double> gradient(at(count * d)), scaled(at(layers_ * 2 * problems_ * d)), plain(at(count * 2 * d));
  std::vector<double> with_basis(at(layers_ * 2 * problems_ * k)), with_vectors(at(count * extra * 2));
  std::vector<double> weighted(at(count * q * n)), curvature_products(at(count * q * q)), image_products(at(count * q * 2));
  std::vector<double> hessian(at(count * q1 * q1)), sub_gradient(at(count * q1)), direction(at(count * q1));
  std::vector<double> beta(at(count * q), 0.0), scaled_beta(at(count * q), 0.0), image_change(at(count * n));
  std::vector<double> basis_change(at(count * d)), vector_change(at(count * d)), products(at(q));

  std::vector<double> bias(at(count), 0.0), best_bias(at(count), 0.0), gradient_bias(at(count)), curvature_sum(at(count));
  std::vector<double> norm(at(count)), initial_norm(at(count)), lowest_norm(at(count)), milestone_norm(at(count));
  std::vector<double> basis_dot_w(at(count * q)), inverse_length(at(count * q)), linear(at(count)), quadratic(at(count));
  std::vector<double> slope(at(count)), bias_direction(at(count)), step(at(count)), next(at(count));
  std::vector<std::int64_t> since_milestone(at(count), 0), iterations(at(count), 0);
  std::vector<std::uint8_t> active(at(count), 1), converged(at(count), 0);
  std::vector<double> current = objective(margins.data(), w.data());
  const double eps = std::numeric_limits<double>::epsilon();
  const double tolerance = options_.tolerance;

  for (int iteration = 0; iteration <= options_.max_iterations; ++iteration) {
    if (iteration > 0 && iteration % kRefreshEvery == 0) {
      // The margins are updated from the images of the steps; recomputing them now and then keeps
      // float32 rounding in the images from accumulating.
      apply_into(w.data(), /*all_rows=*/false, margins.data(), n);
      for (std::int64_t lp = 0; lp < count; ++lp) {
        for (std::int64_t i = 0; i < n; ++i) margins[at(lp * n + i)] += bias[at(lp)];
      }
      current = objective(margins.data(), w.data());
    }
    // d(loss)/d(margin) and the curvature, per row.
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::int64_t row0 = (lp % problems_) * n;
      double residual_sum = 0, curvature_total = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double y = targets_[at(row0 + i)];
        const double weight = loss_weight_[at(row0 + i)];
        const double p_wrong = sigmoid(-y * margins[at(lp * n + i)]);
        const double r = -weight * y * p_wrong;
        const double c = weight * p_wrong * (1 - p_wrong);
        residual[at(lp * n + i)] = r;
        curvature_residual[at(2 * (lp * n + i))] = c;
        curvature_residual[at(2 * (lp * n + i) + 1)] = r;
        root_curvature[at(lp * n + i)] = std::sqrt(c);
        residual_sum += r;
        curvature_total += c;
      }
      gradient_bias[at(lp)] = residual_sum;
      curvature_sum[at(lp)] = curvature_total;
    }
    gradient_into(residual.data(), gradient_bias.data(), w.data(), gradient.data());
    bool any_active = false;
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::size_t i = at(lp);
      norm[i] = std::sqrt(squared_norm(gradient.data() + lp * d, d) + gradient_bias[i] * gradient_bias[i]);
      if (iteration == 0) {
        initial_norm[i] = std::max(norm[i], std::numeric_limits<double>::min());
        lowest_norm[i] = norm[i];
        milestone_norm[i] = norm[i];
      }
      // The iterate with the smallest gradient so far is the one returned: at the floor of float32
      // precision the steps turn to rounding noise and may wander off it.
      if (active[i] && norm[i] < lowest_norm[i]) {
        lowest_norm[i] = norm[i];
        std::copy_n(w.begin() + lp * d, d, best_w.begin() + lp * d);
        best_bias[i] = bias[i];
      }
      if (active[i] && norm[i] <= tolerance * initial_norm[i]) {
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
        if (lowest_norm[i] <= 100 * tolerance * initial_norm[i]) converged[i] = 1;
        active[i] = 0;
      }
      any_active = any_active || active[i];
    }
    if (!any_active || iteration == options_.max_iterations) break;
    for (std::int64_t lp = 0; lp < count; ++lp) iterations[at(lp)] += active[at(lp)];

    if (extra > 0) {
      for (std::int64_t lp = 0; lp < count; ++lp) {
        std::copy_n(gradient.begin() + lp * d, d, vectors.begin() + (lp * extra + memory) * d);
      }
      apply_into(gradient.data(), /*all_rows=*/false, images.data() + (q - 1) * n, q * n);
    }
    // Inner products of the gradient and of w with every direction: the deflation directions
    // through scale (one product per layer), the kept vectors directly (one per problem).
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::int64_t l = lp / problems_;
      const std::int64_t p = lp % problems_;
      double* scaled_gradient = scaled.data() + (l * 2 * problems_ + p) * d;
      double* scaled_w = scaled.data() + (l * 2 * problems_ + problems_ + p) * d;
      for (std::int64_t j = 0; j < d; ++j) {
        scaled_gradient[j] = gradient[at(lp * d + j)] * scale_[at(lp * d + j)];
        scaled_w[j] = w[at(lp * d + j)] * scale_[at(lp * d + j)];
      }
      if (extra > 0) {
        std::copy_n(gradient.begin() + lp * d, d, plain.begin() + 2 * lp * d);
        std::copy_n(w.begin() + lp * d, d, plain.begin() + (2 * lp + 1) * d);
        dense::gemm(false, true, extra, 2, d, 1.0, vectors.data() + lp * extra * d, d, plain.data() + 2 * lp * d, d, 0.0,
                    with_vectors.data() + lp * extra * 2, 2);  // [extra, 2]: (gradient, w)
      }
    }
    for (std::int64_t l = 0; l < layers_; ++l) {
      dense::gemm(false, false, 2 * problems_, k, d, 1.0, scaled.data() + l * 2 * problems_ * d, d, basis_.data() + l * d * k, k,
                  0.0, with_basis.data() + l * 2 * problems_ * k, k);  // [2P, k]
    }
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::int64_t l = lp / problems_;
      const std::int64_t p = lp % problems_;
      double* dots = basis_dot_w.data() + lp * q;
      for (std::int64_t i = 0; i < k; ++i) dots[i] = with_basis[at((l * 2 * problems_ + problems_ + p) * k + i)];
      if (extra == 0) continue;
      const double* vector_dots = with_vectors.data() + lp * extra * 2;
      for (std::int64_t i = 0; i < extra; ++i) dots[k + i] = vector_dots[2 * i + 1];
      double* g = gram.data() + lp * q * q;
      for (std::int64_t i = 0; i < q; ++i) {
        const double value = i < k ? with_basis[at((l * 2 * problems_ + p) * k + i)] : vector_dots[2 * (i - k)];
        g[(q - 1) * q + i] = value;
        g[i * q + q - 1] = value;
      }
    }

    // One damped Newton step on the subspace problem over (beta, intercept), from beta = 0; the
    // directions are rescaled to unit length, on the small matrices only.
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const double* image = images.data() + lp * q * n;
      double* out = weighted.data() + lp * q * n;
      for (std::int64_t i = 0; i < q; ++i) {
        for (std::int64_t r = 0; r < n; ++r) out[i * n + r] = image[i * n + r] * root_curvature[at(lp * n + r)];
      }
      dense::gemm(false, true, q, q, n, 1.0, out, n, out, n, 0.0, curvature_products.data() + lp * q * q, q);
      dense::gemm(false, false, q, 2, n, 1.0, image, n, curvature_residual.data() + lp * n * 2, 2, 0.0,
                  image_products.data() + lp * q * 2, 2);  // [q, 2]: (curvature, residual)
      const double* g = gram.data() + lp * q * q;
      const double* cp = curvature_products.data() + lp * q * q;
      const double* ip = image_products.data() + lp * q * 2;
      double* il = inverse_length.data() + lp * q;
      for (std::int64_t i = 0; i < q; ++i) {
        const double diagonal = g[i * q + i];
        il[i] = 1.0 / (diagonal > 0 ? std::sqrt(diagonal) : 1.0);
      }
      double* h = hessian.data() + lp * q1 * q1;
      double* s = sub_gradient.data() + lp * q1;
      for (std::int64_t i = 0; i < q; ++i) {
        for (std::int64_t j = 0; j < q; ++j) h[i * q1 + j] = (cp[i * q + j] + g[i * q + j]) * il[i] * il[j];
        h[i * q1 + q] = h[q * q1 + i] = ip[i * 2] * il[i];
        s[i] = (ip[i * 2 + 1] + basis_dot_w[at(lp * q + i)]) * il[i];
      }
      h[q * q1 + q] = curvature_sum[at(lp)];
      s[q] = gradient_bias[at(lp)];
      double largest = h[0];
      for (std::int64_t i = 1; i < q1; ++i) largest = std::max(largest, h[i * q1 + i]);
      const double ridge = 1e-10 * largest + 1e-300;
      for (std::int64_t i = 0; i < q1; ++i) h[i * q1 + i] += ridge;

      double* dir = direction.data() + lp * q1;
      std::copy_n(s, q1, dir);
      bool finite = dense::solve_symmetric(q1, h, dir);
      double product = 0;
      for (std::int64_t i = 0; i < q1; ++i) {
        dir[i] = -dir[i];
        product += s[i] * dir[i];
        finite = finite && std::isfinite(dir[i]);
      }
      if (!(product < 0) || !finite) {  // numerical trouble: steepest descent
        product = 0;
        for (std::int64_t i = 0; i < q1; ++i) {
          dir[i] = -s[i];
          product -= s[i] * s[i];
        }
      }
      slope[at(lp)] = product;
      if (!active[at(lp)]) std::fill_n(dir, q1, 0.0);
      // Back to unscaled coefficients: beta (per direction) and the intercept change.
      double* b = beta.data() + lp * q;
      for (std::int64_t i = 0; i < q; ++i) b[i] = dir[i] * il[i];
      bias_direction[at(lp)] = dir[q];
      double lin = 0, quad = 0;
      for (std::int64_t i = 0; i < q; ++i) {
        lin += b[i] * basis_dot_w[at(lp * q + i)];
        double row = 0;
        for (std::int64_t j = 0; j < q; ++j) row += g[i * q + j] * b[j];
        quad += b[i] * row;
      }
      linear[at(lp)] = lin;
      quadratic[at(lp)] = quad;
      dense::gemm(false, false, 1, n, q, 1.0, b, q, image, n, 0.0, image_change.data() + lp * n, n);  // no intercept
    }

    // Backtracking (Armijo) along the direction; the objective is cheap on the images.
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::size_t i = at(lp);
      step[i] = 0;
      next[i] = current[i];
      if (!active[i]) continue;
      const std::int64_t row0 = (lp % problems_) * n;
      const double w_norm = 0.5 * squared_norm(w.data() + lp * d, d);
      double t = 1;
      for (int halving = 0; halving < 60; ++halving, t *= 0.5) {
        double loss = 0;
        for (std::int64_t r = 0; r < n; ++r) {
          const double moved = margins[at(lp * n + r)] + t * (image_change[at(lp * n + r)] + bias_direction[i]);
          loss += loss_weight_[at(row0 + r)] * softplus(-targets_[at(row0 + r)] * moved);
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
      for (std::int64_t i = 0; i < q; ++i) scaled_beta[at(lp * q + i)] = step[at(lp)] * beta[at(lp * q + i)];
    }
    for (std::int64_t l = 0; l < layers_; ++l) {
      dense::gemm(false, true, problems_, d, k, 1.0, scaled_beta.data() + l * problems_ * q, q, basis_.data() + l * d * k, k,
                  0.0, basis_change.data() + l * problems_ * d, d);  // [P, D]
    }
    for (std::int64_t lp = 0; lp < count; ++lp) {
      const std::size_t i = at(lp);
      double* change = basis_change.data() + lp * d;
      for (std::int64_t j = 0; j < d; ++j) change[j] *= scale_[at(lp * d + j)];
      if (extra > 0) {
        double* from_vectors = vector_change.data() + lp * d;
        dense::gemm(false, false, 1, d, extra, 1.0, scaled_beta.data() + lp * q + k, q, vectors.data() + lp * extra * d, d, 0.0,
                    from_vectors, d);
        for (std::int64_t j = 0; j < d; ++j) change[j] += from_vectors[j];
      }
      for (std::int64_t j = 0; j < d; ++j) w[at(lp * d + j)] += change[j];
      bias[i] += step[i] * bias_direction[i];
      for (std::int64_t r = 0; r < n; ++r) margins[at(lp * n + r)] += step[i] * (image_change[at(lp * n + r)] + bias_direction[i]);
      current[i] = next[i];
      if (memory > 0) {
        // The step joins the ring; its products with every direction follow from the Gram.
        const std::int64_t slot = k + iteration % memory;
        double* g = gram.data() + lp * q * q;
        const double* sb = scaled_beta.data() + lp * q;
        double self = 0;
        for (std::int64_t a = 0; a < q; ++a) {
          double sum = 0;
          for (std::int64_t b = 0; b < q; ++b) sum += g[a * q + b] * sb[b];
          products[at(a)] = sum;
          self += sb[a] * sum;
        }
        std::copy_n(change, d, vectors.begin() + (lp * extra + slot - k) * d);
        double* image = images.data() + (lp * q + slot) * n;
        for (std::int64_t r = 0; r < n; ++r) image[r] = step[i] * image_change[at(lp * n + r)];
        for (std::int64_t a = 0; a < q; ++a) {
          g[slot * q + a] = products[at(a)];
          g[a * q + slot] = products[at(a)];
        }
        g[slot * q + slot] = self;
      }
      // A step the line search cannot make is the end of float precision: stop there.
      if (active[i] && step[i] == 0) {
        if (lowest_norm[i] <= 100 * tolerance * initial_norm[i]) converged[i] = 1;
        active[i] = 0;
      }
    }
  }

  LogisticBatchSolution solution;
  solution.layers = layers_;
  solution.problems = problems_;
  solution.rows = all_rows_;
  solution.dim = d;
  std::vector<double> fitted_margins(at(count * n));
  apply_into(best_w.data(), /*all_rows=*/false, fitted_margins.data(), n);
  solution.margins.resize(at(count * all_rows_));
  apply_into(best_w.data(), /*all_rows=*/true, solution.margins.data(), all_rows_);  // exact
  for (std::int64_t lp = 0; lp < count; ++lp) {
    for (std::int64_t r = 0; r < n; ++r) fitted_margins[at(lp * n + r)] += best_bias[at(lp)];
    for (std::int64_t r = 0; r < all_rows_; ++r) solution.margins[at(lp * all_rows_ + r)] += best_bias[at(lp)];
  }
  solution.objective = objective(fitted_margins.data(), best_w.data());
  solution.weights = std::move(best_w);
  solution.bias = std::move(best_bias);
  solution.iterations = std::move(iterations);
  solution.converged = std::move(converged);
  return solution;
}

}  // namespace privprobe::logistic_detail
