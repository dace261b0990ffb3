#pragma once
// Row-major GEMM on raw contiguous storage (private; the one TU that includes cblas.h is blas.cpp).
// C[m,n] = alpha op(A) op(B) + beta C, with op(X) = X or Xᵀ chosen by a flag: no transposed copies.
#include <cstddef>

namespace xgrad::blas {

void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
          std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc);
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, double alpha, const double* a,
          std::size_t lda, const double* b, std::size_t ldb, double beta, double* c, std::size_t ldc);

}  // namespace xgrad::blas
