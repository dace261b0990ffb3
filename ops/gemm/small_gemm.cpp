// small_gemm (small_gemm.hpp): row-major products on libxsmm's JIT kernels.
#include "small_gemm.hpp"

#include <libxsmm.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace xgrad::blas {

namespace {

// ---- the column-major view -------------------------------------------------------------------------
// libxsmm's kernels are column-major. A row-major [r, c] array with leading dimension ld is, read
// column-major, the [c, r] array with the same ld: its transpose. So the row-major product
//     C = op(A)·op(B)            C [m, n], op(A) [m, k], op(B) [k, n]
// is the column-major product
//     Cᵀ = op(B)ᵀ·op(A)ᵀ         Cᵀ [n, m], op(B)ᵀ [n, k], op(A)ᵀ [k, m]
// i.e. libxsmm's (M, N, K) = (n, m, k), its A = b with lda = ldb, its B = a with ldb = lda, its C = c
// with ldc = ldc, and the operands swap places in the call.
//   b, trans_b false: the row-major [k, n] B read column-major is Bᵀ = op(B)ᵀ: no flag.
//   b, trans_b true:  the row-major [n, k] B read column-major is B's transpose Bᵀ = op(B), so libxsmm
//                     would have to transpose its A: TRANS_A, which libxsmm 1.17 does not generate.
//   a, trans_a false: the row-major [m, k] A read column-major is Aᵀ = op(A)ᵀ: no flag.
//   a, trans_a true:  the row-major [k, m] A read column-major is Aᵀ = op(A); libxsmm transposes its
//                     B: TRANS_B (generated for float and double).
// libxsmm's leading-dimension rules (lda ≥ M, ldb ≥ K or ≥ N transposed, ldc ≥ M) are then exactly
// the row-major ones (ldb ≥ n, lda ≥ k or ≥ m transposed, ldc ≥ n), which blas::gemm's callers meet.

template <class T>
using kernel_fn = void (*)(const T* a, const T* b, T* c, ...);  // libxsmm_smmfunction / libxsmm_dmmfunction

// ---- which products go to libxsmm --------------------------------------------------------------------
// libxsmm 1.17's JIT kernels take alpha = 1 and beta ∈ {0, 1} only (the dispatch returns no kernel
// otherwise); xgrad's products all have alpha = 1 and beta 0 (assign) or 1 (accumulate). trans_b needs
// TRANS_A in the column-major view (above), which 1.17 does not generate. A kernel is one unblocked
// loop nest over C (no packing, no cache blocking of k), so it is kept to small products: at most
// max_mnk multiply-adds (128³; the recurrent products of hidden sizes up to 128 at batch 32, and
// 32 × 256 × 256), which also keeps every dimension far inside libxsmm_blasint (int).
// Only where libxsmm generates AVX-512 code: its AVX2 kernels did not beat OpenBLAS's AVX2 (Haswell)
// kernels in single precision, so on a CPU without AVX-512 every product stays with BLAS.
constexpr std::size_t max_mnk = std::size_t(1) << 21;

// libxsmm picks its instruction set from CPUID (or LIBXSMM_TARGET). The CPU is asked first so that a
// machine without AVX-512 never initialises libxsmm (its registry alone is about 10 MB).
bool avx512_kernels() {
    static const bool yes = [] {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && libxsmm_get_target_archid() >= LIBXSMM_X86_AVX512_CORE;
#else
        return false;
#endif
    }();
    return yes;
}

template <class T>
bool takes(bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha, std::size_t lda, std::size_t ldb,
           T beta, std::size_t ldc) {
    if (trans_b || alpha != T(1) || (beta != T(0) && beta != T(1))) return false;
    if (m == 0 || n == 0 || k == 0 || m > max_mnk || n > max_mnk || k > max_mnk) return false;
    if (m * n > max_mnk / k) return false;  // m·n·k ≤ max_mnk (each factor ≤ 2²¹: no overflow)
    return lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX;
}

// ---- a per-thread cache of dispatched kernels --------------------------------------------------------
// libxsmm keeps its own registry of generated kernels (thread-safe), but every dispatch builds a
// descriptor and hashes it. A step multiplies the same few shapes over and over, so each thread keeps
// the kernels it used last in a small direct-mapped table: a hit is one compare of a 28-byte key.
// A miss (first use, or a collision) asks libxsmm, which generates the kernel once per process. The
// table is thread_local and zero-initialised (constant initialisation: no allocation, no guard, no lock).
struct key {
    std::uint32_t m, n, k, lda, ldb, ldc;
    std::uint32_t bits;  // bit 0: trans_a; bit 1: beta = 1
    bool operator==(const key&) const = default;
};

template <class T>
struct slot {
    key k;
    kernel_fn<T> fn;  // nullptr with `filled`: libxsmm declined this product (remembered, not asked again)
    bool filled;
};

constexpr std::size_t slots = 16;  // power of two; a recurrent step uses 3–4 shapes per weight

std::size_t slot_of(const key& q) {
    std::uint32_t h = q.m * 0x9E3779B1u;
    h ^= q.n * 0x85EBCA77u;
    h ^= q.k * 0xC2B2AE3Du;
    h ^= (q.lda ^ (q.ldb << 8) ^ (q.ldc << 16)) * 0x27D4EB2Fu;
    h ^= q.bits;
    return (h ^ (h >> 15)) & (slots - 1);
}

template <class T>
kernel_fn<T> dispatch(const key& q) {
    const libxsmm_blasint m = q.n, n = q.m, k = q.k;  // the column-major view (above)
    const libxsmm_blasint lda = q.ldb, ldb = q.lda, ldc = q.ldc;
    const int flags = (q.bits & 1u) ? LIBXSMM_GEMM_FLAG_TRANS_B : 0;
    const int prefetch = LIBXSMM_PREFETCH_NONE;  // the kernel then takes (a, b, c)
    const T alpha = T(1), beta = (q.bits & 2u) ? T(1) : T(0);
    if constexpr (std::is_same_v<T, float>)
        return libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
    else
        return libxsmm_dmmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
}

template <class T>
kernel_fn<T> kernel(const key& q) {
    thread_local slot<T> cache[slots];
    slot<T>& s = cache[slot_of(q)];
    if (!(s.filled && s.k == q)) s = slot<T>{q, dispatch<T>(q), true};
    return s.fn;
}

bool on_by_default() {
    const char* off = std::getenv("XGRAD_NO_XSMM");
    return !(off && std::strcmp(off, "1") == 0);
}
std::atomic<bool> g_on{on_by_default()};

template <class T>
bool run(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda,
         const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
    if (!g_on.load(std::memory_order_relaxed) || !takes(tb, m, n, k, alpha, lda, ldb, beta, ldc) || !avx512_kernels())
        return false;
    const key q{std::uint32_t(m), std::uint32_t(n), std::uint32_t(k),  std::uint32_t(lda),
                std::uint32_t(ldb), std::uint32_t(ldc), (ta ? 1u : 0u) | (beta == T(1) ? 2u : 0u)};
    const kernel_fn<T> fn = kernel<T>(q);
    if (!fn) return false;
    fn(b, a, c);  // libxsmm's A = b, B = a (the column-major view)
    return true;
}

}  // namespace

bool small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
    return run(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
bool small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha, const double* a,
                std::size_t lda, const double* b, std::size_t ldb, double beta, double* c, std::size_t ldc) {
    return run(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

bool small_gemm_on() { return g_on.load(std::memory_order_relaxed) && avx512_kernels(); }
void set_small_gemm(bool on) { g_on.store(on, std::memory_order_relaxed); }

}  // namespace xgrad::blas
