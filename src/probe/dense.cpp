#include "probe/dense.h"

#include <cblas.h>

#include <vector>

// LAPACK's Fortran entry points (no LAPACKE header needed).
extern "C" {
void dgesv_(const int* n, const int* nrhs, double* a, const int* lda, int* ipiv, double* b, const int* ldb, int* info);
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
}

namespace privprobe::dense {
namespace {

CBLAS_TRANSPOSE op(bool transpose) { return transpose ? CblasTrans : CblasNoTrans; }
int as_int(std::int64_t value) { return static_cast<int>(value); }

}  // namespace

void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, op(transpose_a), op(transpose_b), as_int(m), as_int(n), as_int(k), alpha, a, as_int(lda), b,
              as_int(ldb), beta, c, as_int(ldc));
}

void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, op(transpose_a), op(transpose_b), as_int(m), as_int(n), as_int(k), alpha, a, as_int(lda), b,
              as_int(ldb), beta, c, as_int(ldc));
}

void gemv(bool transpose, std::int64_t rows, std::int64_t cols, const float* a, std::int64_t lda, const float* x, float* y) {
  if (rows == 0 || cols == 0) return;
  cblas_sgemv(CblasRowMajor, op(transpose), as_int(rows), as_int(cols), 1.0F, a, as_int(lda), x, 1, 0.0F, y, 1);
}

bool solve_symmetric(std::int64_t n, double* a, double* b) {
  const int order = as_int(n);
  const int one = 1;
  std::vector<int> pivots(static_cast<std::size_t>(n));
  int info = 0;
  dgesv_(&order, &one, a, &order, pivots.data(), b, &order, &info);
  return info == 0;
}

bool cholesky_lower(std::int64_t n, double* a) {
  // Column-major LAPACK sees the row-major array transposed: its upper factor is our lower one.
  const int order = as_int(n);
  int info = 0;
  dpotrf_("U", &order, a, &order, &info);
  return info == 0;
}

void solve_lower(std::int64_t n, std::int64_t cols, const double* l, double* b) {
  cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, as_int(n), as_int(cols), 1.0, l, as_int(n), b,
              as_int(cols));
}

}  // namespace privprobe::dense
