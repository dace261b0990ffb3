#pragma once
// xgrad's own single-precision GEMM for the skinny products of recurrent training (private).
//
// OpenBLAS packs both operands on every call. A recurrent weight is multiplied by a 32-row state
// once per time step, forward and backward, so OpenBLAS re-packs the same weight 2·T times per
// training step, each time for a product of only 32 rows. Here the right-hand operand is packed
// once by the caller, into column panels of `panel` floats ([k][panel] each, zero-padded), and kept
// while the weight does not change; the product runs an AVX-512 kernel of up to `block_rows` × 32
// outputs.
//
// Everything here needs AVX-512F: call only when supported() says so. The functions live in their
// own translation unit, built with AVX-512 enabled whatever the rest of the build targets, and use
// no standard-library templates (an inline template instantiated there could be picked by the
// linker for the other translation units, and carry AVX-512 code into a machine without it).
#include <cstddef>

namespace xgrad::blas::avx512 {

inline constexpr std::size_t panel = 32;       // columns of a packed panel (two 16-float registers)
inline constexpr std::size_t block_rows = 12;  // rows of C one kernel call computes
inline constexpr std::size_t depth = 256;      // k is cut into blocks of this many

// Floats of op(B) [k, n] once packed.
inline std::size_t packed_size(std::size_t k, std::size_t n) { return (n + panel - 1) / panel * panel * k; }
// Floats of work space gemm() needs for an op(A) of m rows.
inline std::size_t work_size(std::size_t m) { return m * depth; }

// bp = op(B) [k, n] packed; op(B) = B [k, n] (trans_b false) or Bᵀ with B stored [n, k].
void pack_b(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb, float* bp);
// Only the part of bp that comes from b's rows [r0, r1) (after those rows changed): op(B)'s columns
// r0 .. r1 − 1 when trans_b (r0 a multiple of panel), its depth steps when not. `stream`: write bp with
// non-temporal stores, past the caches (for a copy refreshed long before it is read again).
void pack_b_rows(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb, float* bp,
                 std::size_t r0, std::size_t r1, bool stream);

// C[m, n] = alpha·op(A)·op(B) + beta·C with op(B) given packed by pack_b; op(A) = A [m, k] or Aᵀ with
// A stored [k, m]. beta = 0 never reads C. `work` holds work_size(m) floats.
void gemm(bool trans_a, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a, std::size_t lda,
          const float* bp, float beta, float* c, std::size_t ldc, float* work);

// C[m, n] = alpha·Aᵀ·B + beta·C for A [k, m] and B [k, n] given row by row: a_rows[p] and b_rows[p]
// point to row p of each, so the rows of several matrices multiply without being copied side by side
// (a recurrent weight's gradient Σₜ dYₜᵀ·Xₜ, read from every time step's buffers). beta = 0 never
// reads C.
// `work` holds rows_work_size(m, k) floats.
inline constexpr std::size_t rows_depth = 512;        // depth steps per pass over C
inline constexpr std::size_t rows_budget = 1u << 18;  // floats of packed B per column chunk (1 MiB)
inline std::size_t rows_work_size(std::size_t m, std::size_t k) {
    return rows_budget + m * (k < rows_depth ? k : rows_depth);
}
void gemm_tn_rows(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* const* a_rows,
                  const float* const* b_rows, float beta, float* c, std::size_t ldc, float* work);

}  // namespace xgrad::blas::avx512
