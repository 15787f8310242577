// The few dense products and solves the probe solver needs, on row-major arrays, through the
// system's CBLAS and LAPACK (on Debian the alternatives point both at OpenBLAS). The probe thus
// runs without libtorch, whose loading alone costs a process most of a second.
#pragma once

#include <cstdint>

namespace privprobe::dense {

// c[m, n] = alpha * op(a) op(b) + beta * c, row-major; op transposes when asked. lda, ldb, ldc:
// row strides of a, b and c as stored.
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc);
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc);

// y[rows or cols] = op(a) x for a [rows, cols] float32 with row stride lda.
void gemv(bool transpose, std::int64_t rows, std::int64_t cols, const float* a, std::int64_t lda, const float* x, float* y);

// Solves a x = b for one square system of order n in place (a is overwritten, b becomes x).
// a must be symmetric (row- and column-major then agree). Returns false when a is singular.
bool solve_symmetric(std::int64_t n, double* a, double* b);

// The lower Cholesky factor of a symmetric positive definite a [n, n] in place (the lower triangle
// holds it afterwards; the upper keeps a). Returns false when a is not positive definite.
bool cholesky_lower(std::int64_t n, double* a);

// b [n, cols] = l^-1 b for the lower triangular l [n, n] (row stride n).
void solve_lower(std::int64_t n, std::int64_t cols, const double* l, double* b);

}  // namespace privprobe::dense
