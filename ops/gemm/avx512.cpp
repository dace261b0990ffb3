// The AVX-512 GEMM of avx512.hpp. Built with -mavx512f -mfma (CMakeLists.txt); no
// standard-library templates in this file (see the header).
#include "avx512.hpp"

#include "../intrinsics.hpp"  // <immintrin.h> without GCC 12's false warnings from it

#include <cstdint>

namespace xgrad::blas::avx512 {

namespace {

inline std::size_t min(std::size_t a, std::size_t b) { return a < b ? a : b; }

// C[R, 32] (masked to the panel's real columns) = alpha·Ap·Bp + beta·C over kc depth steps: 2·R
// accumulators, two panel loads and R broadcasts per step. Every step also asks for one 64-byte line
// from `next` into L2 (`next` null: none).
template <int R>
__attribute__((always_inline)) inline void tile(std::size_t kc, const float* __restrict ap, std::size_t as,
                                                const float* __restrict bp, float* c, std::size_t ldc, __mmask16 lo,
                                                __mmask16 hi, float alpha, float beta, const float* next) {
    __m512 s0[R], s1[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) s0[r] = s1[r] = _mm512_setzero_ps();
    for (std::size_t p = 0; p < kc; ++p) {
        _mm_prefetch(reinterpret_cast<const char*>(bp + 16 * panel), _MM_HINT_T0);  // 16 steps ahead
        _mm_prefetch(reinterpret_cast<const char*>(bp + 16 * panel + 16), _MM_HINT_T0);
        if (next) {
            _mm_prefetch(reinterpret_cast<const char*>(next), _MM_HINT_T1);
            next += 16;
        }
        const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m512 x = _mm512_set1_ps(ap[r]);
            s0[r] = _mm512_fmadd_ps(x, b0, s0[r]);
            s1[r] = _mm512_fmadd_ps(x, b1, s1[r]);
        }
        ap += as;
        bp += panel;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        float* cr = c + static_cast<std::size_t>(r) * ldc;
        __m512 y0 = alpha == 1.0f ? s0[r] : _mm512_mul_ps(va, s0[r]);
        __m512 y1 = alpha == 1.0f ? s1[r] : _mm512_mul_ps(va, s1[r]);
        if (beta == 1.0f) {
            y0 = _mm512_add_ps(y0, _mm512_maskz_loadu_ps(lo, cr));
            y1 = _mm512_add_ps(y1, _mm512_maskz_loadu_ps(hi, cr + 16));
        } else if (beta != 0.0f) {
            y0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(lo, cr), y0);
            y1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(hi, cr + 16), y1);
        }
        _mm512_mask_storeu_ps(cr, lo, y0);
        _mm512_mask_storeu_ps(cr + 16, hi, y1);
    }
}

using tile_fn = void (*)(std::size_t, const float*, std::size_t, const float*, float*, std::size_t, __mmask16,
                         __mmask16, float, float, const float*);

template <int R>
void tile_call(std::size_t kc, const float* ap, std::size_t as, const float* bp, float* c, std::size_t ldc,
               __mmask16 lo, __mmask16 hi, float alpha, float beta, const float* next) {
    tile<R>(kc, ap, as, bp, c, ldc, lo, hi, alpha, beta, next);
}

constexpr tile_fn tiles[block_rows + 1] = {nullptr,        tile_call<1>,  tile_call<2>, tile_call<3>, tile_call<4>,
                                           tile_call<5>,   tile_call<6>,  tile_call<7>, tile_call<8>, tile_call<9>,
                                           tile_call<10>, tile_call<11>, tile_call<12>};
static_assert(block_rows == 12, "the tile table lists one kernel per row count");

// dst[p·ldd + i] = src[i·lds + p] for i < rows ≤ 16 and p < 16: unpack pairs of rows, then 4 × 4
// blocks, then 128-bit lanes; each of the 16 rows of the result is stored masked to its first
// `rows` floats. With `stream` (rows = 16, dst and ldd 64-byte aligned) the rows are stored past the
// caches (non-temporal stores: no read of the destination lines first).
void transpose16(const float* src, std::size_t lds, std::size_t rows, float* dst, std::size_t ldd,
                 bool stream = false) {
    __m512 r[16], t[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i)
        r[i] = static_cast<std::size_t>(i) < rows ? _mm512_loadu_ps(src + static_cast<std::size_t>(i) * lds)
                                                  : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 2) {  // per lane: [a0 b0 a1 b1], [a2 b2 a3 b3]
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 16
    for (int g = 0; g < 16; g += 4) {  // r[g + q], lane L: column 4L + q of rows g .. g + 3
        r[g] = _mm512_shuffle_ps(t[g], t[g + 2], 0x44);
        r[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], 0xEE);
        r[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        r[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
    }
    const __mmask16 m = rows >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rows) - 1u);
    auto put = [&](std::size_t row, __m512 v) {
        if (stream)
            _mm512_stream_ps(dst + row * ldd, v);
        else
            _mm512_mask_storeu_ps(dst + row * ldd, m, v);
    };
#pragma GCC unroll 16
    for (int q = 0; q < 4; ++q) {  // gather lane L of the four row groups: column 4L + q
        const __m512 v0 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x44), v1 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xEE);
        const __m512 v2 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x44),
                     v3 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xEE);
        const std::size_t row = static_cast<std::size_t>(q);
        put(row, _mm512_shuffle_f32x4(v0, v2, 0x88));
        put(row + 4, _mm512_shuffle_f32x4(v0, v2, 0xDD));
        put(row + 8, _mm512_shuffle_f32x4(v1, v3, 0x88));
        put(row + 12, _mm512_shuffle_f32x4(v1, v3, 0xDD));
    }
}

// op(A) rows [i0, i0 + r) × columns [k0, k0 + kc), packed as ap[p·r + row]: one broadcast per row and
// depth step, read in order.
void pack_a(bool trans_a, const float* a, std::size_t lda, std::size_t i0, std::size_t r, std::size_t k0,
            std::size_t kc, float* __restrict ap) {
    if (trans_a) {  // op(A)[i, p] = a[p·lda + i]: rows of a are contiguous over i
        for (std::size_t p = 0; p < kc; ++p) {
            const float* __restrict src = a + (k0 + p) * lda + i0;
            for (std::size_t row = 0; row < r; ++row) ap[p * r + row] = src[row];
        }
    } else {  // 16 depth steps at a time by register transposes, the rest one float at a time
        std::size_t p0 = 0;
        for (; p0 + 16 <= kc; p0 += 16) transpose16(a + i0 * lda + k0 + p0, lda, r, ap + p0 * r, r);
        for (std::size_t row = 0; row < r; ++row) {
            const float* __restrict src = a + (i0 + row) * lda + k0;
            for (std::size_t p = p0; p < kc; ++p) ap[p * r + row] = src[p];
        }
    }
}

__mmask16 mask(std::size_t cols) { return cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1u); }

}  // namespace

// Layout: depth blocks in order; within one, the panels in order, each [kc][32]. A sweep over the
// panels of one depth block (gemm's inner loops) thus reads memory in order.
void pack_b(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb, float* bp) {
    pack_b_rows(trans_b, k, n, b, ldb, bp, 0, trans_b ? n : k, false);
}

// The rows [r0, r1) of b are op(B)'s columns (trans_b: whole panels) or its depth steps, so they land
// in one panel per depth block, or in a [r1 − r0][32] run of every panel of one or two depth blocks.
void pack_b_rows(bool trans_b, std::size_t k, std::size_t n, const float* b, std::size_t ldb, float* bp,
                 std::size_t r0, std::size_t r1, bool stream) {
    const std::size_t panels = (n + panel - 1) / panel;
    stream = stream && reinterpret_cast<std::uintptr_t>(bp) % 64 == 0;  // panel rows are then 64-byte aligned
    for (std::size_t k0 = 0; k0 < k; k0 += depth) {
        const std::size_t kc = min(depth, k - k0);
        const std::size_t p_lo = trans_b ? 0 : (r0 > k0 ? r0 - k0 : 0);  // depth steps of this block to pack
        const std::size_t p_hi = trans_b ? kc : (r1 < k0 + kc ? (r1 > k0 ? r1 - k0 : 0) : kc);
        if (p_lo >= p_hi) continue;
        const std::size_t j_lo = trans_b ? r0 : 0, j_hi = trans_b ? min(r1, n) : n;
        for (std::size_t j0 = j_lo; j0 < j_hi; j0 += panel) {
            const std::size_t cols = min(panel, n - j0);
            float* __restrict dst = bp + k0 * panels * panel + j0 * kc;
            if (trans_b && cols == panel) {
                // op(B)[p, j] = b[j·ldb + p]: 16 × 16 blocks transposed in registers, so b is read
                // and bp written in whole 64-byte rows rather than one float (or one gather) at a time
                std::size_t p0 = 0;
                for (; p0 + 16 <= kc; p0 += 16)
                    for (std::size_t h = 0; h < panel; h += 16)
                        transpose16(b + (j0 + h) * ldb + k0 + p0, ldb, 16, dst + p0 * panel + h, panel, stream);
                for (std::size_t j = 0; j < cols; ++j)
                    for (std::size_t p = p0; p < kc; ++p) dst[p * panel + j] = b[(j0 + j) * ldb + k0 + p];
            } else if (trans_b) {  // a partial panel: one float a time
                for (std::size_t j = 0; j < cols; ++j) {
                    const float* __restrict src = b + (j0 + j) * ldb + k0;
                    for (std::size_t p = 0; p < kc; ++p) dst[p * panel + j] = src[p];
                }
            } else if (stream && cols == panel) {
                for (std::size_t p = p_lo; p < p_hi; ++p) {
                    const float* src = b + (k0 + p) * ldb + j0;
                    _mm512_stream_ps(dst + p * panel, _mm512_loadu_ps(src));
                    _mm512_stream_ps(dst + p * panel + 16, _mm512_loadu_ps(src + 16));
                }
            } else {
                for (std::size_t p = p_lo; p < p_hi; ++p) {
                    const float* __restrict src = b + (k0 + p) * ldb + j0;
                    for (std::size_t j = 0; j < cols; ++j) dst[p * panel + j] = src[j];
                }
            }
            for (std::size_t p = p_lo; p < p_hi; ++p)
                for (std::size_t j = cols; j < panel; ++j) dst[p * panel + j] = 0.0f;
        }
    }
    if (stream) _mm_sfence();  // the streamed stores ordered before whatever reads the copy next
}

// Per depth block, one of two loop orders:
// - a block of op(B) that fits in L2 (n·kc·4 bytes ≤ 1 MiB), and many rows (more than few_rows) or
//   an op(B) that stays in L2 between products (2 MiB at most): row blocks outside, panels inside.
//   Each tile of C is read and written once; op(A)'s rows are packed one block at a time (the weight
//   gradient dYᵀ·X: thousands of rows, a depth of one batch).
// - otherwise: all of op(A)'s rows packed first (m·kc floats, in L2), then panels outside and row
//   blocks inside, so each panel (kc·32 floats, read in order) comes from memory once and is reused
//   from L1 by every row block (a batch of states times a large weight, forward or dX). The first row
//   block would wait on memory for the panel, the others run from L1 with memory idle, so the
//   tiles ask for the next panel into L2 meanwhile (when op(B) is larger than L2: it comes from
//   memory on every product), one line per depth step, half the panel per row block.
constexpr std::size_t few_rows = 4 * block_rows;
void gemm(bool trans_a, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a, std::size_t lda,
          const float* bp, float beta, float* c, std::size_t ldc, float* work) {
    if (m == 0 || n == 0) return;
    const std::size_t panels = (n + panel - 1) / panel;
    const float* const end = bp + packed_size(k, n);
    const bool streamed = packed_size(k, n) * sizeof(float) > (std::size_t(2) << 20);  // more than L2 holds
    for (std::size_t k0 = 0; k0 < k || k0 == 0; k0 += depth) {
        const std::size_t kc = min(depth, k - k0);
        const float b = k0 == 0 ? beta : 1.0f;
        const float* bk = bp + k0 * panels * panel;
        auto run = [&](std::size_t i0, std::size_t j, const float* ap, std::size_t as, const float* next) {
            const std::size_t j0 = j * panel, cols = min(panel, n - j0);
            const __mmask16 lo = mask(cols), hi = cols > 16 ? mask(cols - 16) : __mmask16(0);
            tiles[min(block_rows, m - i0)](kc, ap, as, bk + j0 * kc, c + i0 * ldc + j0, ldc, lo, hi, alpha, b, next);
        };
        if (panels * panel * kc * sizeof(float) <= (std::size_t(1) << 20) && (m > few_rows || !streamed)) {
            for (std::size_t i0 = 0; i0 < m; i0 += block_rows) {
                const std::size_t r = min(block_rows, m - i0);
                if (trans_a) {  // op(A)'s rows i0.. at depth p are already side by side: a[p·lda + i0 ..]
                    for (std::size_t j = 0; j < panels; ++j) run(i0, j, a + k0 * lda + i0, lda, nullptr);
                } else {
                    pack_a(trans_a, a, lda, i0, r, k0, kc, work);
                    for (std::size_t j = 0; j < panels; ++j) run(i0, j, work, r, nullptr);
                }
            }
        } else {
            for (std::size_t i0 = 0; i0 < m; i0 += block_rows)
                pack_a(trans_a, a, lda, i0, min(block_rows, m - i0), k0, kc, work + i0 * kc);
            for (std::size_t j = 0; j < panels; ++j) {
                const float* next = bk + (j + 1) * panel * kc;  // after the last panel: the next depth block's first
                for (std::size_t i0 = 0, rb = 0; i0 < m; i0 += block_rows, ++rb) {
                    const float* half = next + (rb % 2) * (panel / 2) * kc;
                    const bool ask = streamed && half + (panel / 2) * kc <= end;
                    run(i0, j, work + i0 * kc, min(block_rows, m - i0), ask ? half : nullptr);
                }
            }
        }
        if (k == 0) break;
    }
}

// Depth blocks of up to rows_depth steps (C is read and written once per block; beta = 0 on the
// first block never reads it). Per depth block, A is packed once, row block after row block
// ([kc][12] each), sixteen rows of A at a time: sixteen streams read in order, 768 contiguous bytes
// written per row block (gathering one row block's 12 floats from kc rows 16 KB apart would miss L1
// and L2 on every row). Then column chunks whose packed B fits in rows_budget floats (L2); inside one, row
// blocks, and every panel innermost. Each tile of C is written once per depth block.
void gemm_tn_rows(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* const* a_rows,
                  const float* const* b_rows, float beta, float* c, std::size_t ldc, float* work) {
    if (m == 0 || n == 0) return;
    float* const apack = work + rows_budget;  // A, [row block][kc][12]
    for (std::size_t k0 = 0; k0 < k || k0 == 0; k0 += rows_depth) {
        const std::size_t kc = min(rows_depth, k - k0);
        const float b = k0 == 0 ? beta : 1.0f;
        for (std::size_t p0 = 0; p0 < kc; p0 += 16) {
            const std::size_t pn = min(16, kc - p0);
            for (std::size_t i0 = 0; i0 < m; i0 += block_rows) {
                const std::size_t r = min(block_rows, m - i0);
                const __mmask16 rm = mask(r);
                float* dst = apack + i0 * kc + p0 * r;
                for (std::size_t p = 0; p < pn; ++p)
                    _mm512_mask_storeu_ps(dst + p * r, rm, _mm512_maskz_loadu_ps(rm, a_rows[k0 + p0 + p] + i0));
            }
        }
        // column chunks of whole panels, as even as the budget allows (1024 columns at depth 320: 2 × 512)
        const std::size_t n_panels = (n + panel - 1) / panel;
        const std::size_t fit = kc == 0 ? n_panels : (rows_budget / kc / panel < 1 ? 1 : rows_budget / kc / panel);
        const std::size_t chunks = (n_panels + fit - 1) / fit, chunk = (n_panels + chunks - 1) / chunks * panel;
        for (std::size_t c0 = 0; c0 < n; c0 += chunk) {
            const std::size_t cols = min(chunk, n - c0), panels = (cols + panel - 1) / panel;
            for (std::size_t j = 0; j < panels; ++j) {  // B's rows k0.. into panels [kc][32]
                const std::size_t j0 = c0 + j * panel, w = min(panel, n - j0);
                float* __restrict dst = work + j * kc * panel;
                const __mmask16 lo = mask(w), hi = w > 16 ? mask(w - 16) : __mmask16(0);
                for (std::size_t p = 0; p < kc; ++p) {  // zero past the row's end
                    const float* src = b_rows[k0 + p] + j0;
                    _mm512_storeu_ps(dst + p * panel, _mm512_maskz_loadu_ps(lo, src));
                    _mm512_storeu_ps(dst + p * panel + 16, _mm512_maskz_loadu_ps(hi, src + 16));
                }
            }
            for (std::size_t i0 = 0; i0 < m; i0 += block_rows) {
                const std::size_t r = min(block_rows, m - i0);
                for (std::size_t j = 0; j < panels; ++j) {
                    const std::size_t j0 = c0 + j * panel, w = min(panel, n - j0);
                    const __mmask16 lo = mask(w), hi = w > 16 ? mask(w - 16) : __mmask16(0);
                    tiles[r](kc, apack + i0 * kc, r, work + j * kc * panel, c + i0 * ldc + j0, ldc, lo, hi, alpha, b,
                             nullptr);
                }
            }
        }
        if (k == 0) break;
    }
}

}  // namespace xgrad::blas::avx512
