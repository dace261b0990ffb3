#pragma once
// Row-major GEMM on raw contiguous storage (private; the one TU that includes cblas.h is blas.cpp).
// C[m,n] = alpha op(A) op(B) + beta C, with op(X) = X or Xᵀ chosen by a flag: no transposed copies.
// gemm() routes each product: degenerate shapes to loops or gemv, skinny float products to xgrad's
// own kernel, small ones to libxsmm's JIT kernels (small_gemm.hpp), the rest to OpenBLAS.
#include <cstddef>

namespace xgrad::blas {

void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
          std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc);
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, double alpha, const double* a,
          std::size_t lda, const double* b, std::size_t ldb, double beta, double* c, std::size_t ldc);

// xgrad's own float kernel (ops/gemm/avx512.hpp) for skinny products on AVX-512 machines; gemm()
// above uses it by itself where it is faster. Off without AVX-512, with XGRAD_NO_OWN_GEMM=1 in the
// environment, and while BLAS runs more than one thread (the kernel is single-threaded).
// set_own_gemm (tests, benchmarks) returns false when asked for it on a machine without AVX-512.
bool own_gemm();
bool set_own_gemm(bool on);
// For a right-hand operand used many times (a recurrent weight): pack op(B) [k, n] once into
// packed_size(k, n) floats (64-byte aligned for speed), then multiply with gemm_packed as often as
// needed. Only while own_gemm() is true.
std::size_t packed_size(std::size_t k, std::size_t n);
void pack(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb, float* bp);
// Re-pack only what comes from b's rows [r0, r1) (op(B)'s columns when trans_b, r0 a multiple of 32;
// its rows when not), after an in-place update of those rows. `stream`: write with non-temporal stores,
// past the caches (for a copy larger than the caches hold until its next use).
void pack_rows(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb, float* bp, std::size_t r0,
               std::size_t r1, bool stream);
void gemm_packed(bool trans_a, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                 std::size_t lda, const float* bp, float beta, float* c, std::size_t ldc);
// C[m, n] = alpha·Aᵀ·B + beta·C with A [k, m] and B [k, n] given one row pointer per depth step
// (rows of many matrices, multiplied without copying them together). Only while own_gemm() is true.
void gemm_tn_rows(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* const* a_rows,
                  const float* const* b_rows, float beta, float* c, std::size_t ldc);

}  // namespace xgrad::blas
