#pragma once
// Small row-major products on libxsmm's JIT kernels (private to ops/gemm/, like blas.hpp).
//
// C[m, n] = alpha·op(A)·op(B) + beta·C with op(X) = X or Xᵀ, the same arguments and row-major meaning
// as blas::gemm. libxsmm generates the kernel for the exact shape at first use, for the instruction
// set CPUID reports, so its speed does not depend on which OpenBLAS kernel set is loaded.
//
// small_gemm returns true when it computed C, and false, with C untouched, for a product it does not
// take (see takes() in small_gemm.cpp: the shapes, transposes and scalars routed to libxsmm); the
// caller then runs BLAS. beta = 0 never reads C.
#include <cstddef>

namespace xgrad::blas {

bool small_gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc);
bool small_gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, double alpha,
                const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta, double* c,
                std::size_t ldc);

// Whether small_gemm takes any product here: not switched off (XGRAD_NO_XSMM=1 in the environment,
// or set_small_gemm(false)), and libxsmm generates AVX-512 code on this CPU.
bool small_gemm_on();
void set_small_gemm(bool on);

}  // namespace xgrad::blas
