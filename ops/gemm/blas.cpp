#include "blas.hpp"

#include <cblas.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define XGRAD_HAVE_MXCSR 1
#endif

#include <cctype>
#include <cstdlib>
#include <new>
#include <string>

#include "../ops.hpp"
#include "avx512.hpp"
#include "small_gemm.hpp"

namespace xgrad::blas {

namespace {
CBLAS_TRANSPOSE flag(bool t) { return t ? CblasTrans : CblasNoTrans; }
}  // namespace

namespace {

// k = 0: C = beta·C (gemv would skip the scaling when it has no columns; beta = 0 never reads C).
template <class T>
bool empty_product(std::size_t m, std::size_t n, std::size_t k, T beta, T* c, std::size_t ldc) {
    if (k != 0) return false;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return true;
}

// k = 1 is an outer product (an input projection of one feature: x[B·T, 1]·W_ih[H, 1]ᵀ). OpenBLAS sends
// it through its general path, packing both operands for one multiply per element; a plain loop does
// it without packing.
template <class T>
bool outer_product(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda,
                   const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
    if (k != 1) return false;
    const std::size_t bs = tb ? ldb : 1;  // op(B)[0, j] = b[j·bs]
    for (std::size_t i = 0; i < m; ++i) {
        const T ai = alpha * (ta ? a[i] : a[i * lda]);
        T* __restrict ci = c + i * ldc;
        const T* __restrict bj = b;
        if (bs == 1 && beta == T(0))
            for (std::size_t j = 0; j < n; ++j) ci[j] = ai * bj[j];
        else if (bs == 1)
            for (std::size_t j = 0; j < n; ++j) ci[j] = beta * ci[j] + ai * bj[j];
        else
            for (std::size_t j = 0; j < n; ++j) ci[j] = (beta == T(0) ? T(0) : beta * ci[j]) + ai * bj[j * bs];
    }
    return true;
}

// n = 1 or m = 1 is a matrix-vector product (a Dense(1) head, the weight gradient of a one-feature
// input projection); OpenBLAS 0.3.21's gemm does not forward these to gemv, so they are sent there.
//   n = 1: C[:, 0] = op(A) · op(B)[:, 0]          m = 1: C[0, :] = op(B)ᵀ · op(A)[0, :]
int blas_int(std::size_t v) { return static_cast<int>(v); }  // a size as the int CBLAS takes
void gemv(bool t, std::size_t rows, std::size_t cols, float alpha, const float* a, std::size_t lda, const float* x,
          std::size_t incx, float beta, float* y, std::size_t incy) {
    cblas_sgemv(CblasRowMajor, flag(t), blas_int(rows), blas_int(cols), alpha, a, blas_int(lda), x, blas_int(incx), beta,
                y, blas_int(incy));
}
void gemv(bool t, std::size_t rows, std::size_t cols, double alpha, const double* a, std::size_t lda, const double* x,
          std::size_t incx, double beta, double* y, std::size_t incy) {
    cblas_dgemv(CblasRowMajor, flag(t), blas_int(rows), blas_int(cols), alpha, a, blas_int(lda), x, blas_int(incx), beta,
                y, blas_int(incy));
}
template <class T>
bool matrix_vector(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                   std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
    if (n == 1) {  // op(A) is A [m, k] or Aᵀ with A stored [k, m]; op(B)[l, 0] = tb ? b[l] : b[l·ldb]
        if (ta) gemv(true, k, m, alpha, a, lda, b, tb ? 1 : ldb, beta, c, ldc);
        else gemv(false, m, k, alpha, a, lda, b, tb ? 1 : ldb, beta, c, ldc);
        return true;
    }
    if (m == 1) {  // op(A)[0, l] = ta ? a[l·lda] : a[l]; op(B) is B [k, n] or Bᵀ with B stored [n, k]
        if (tb) gemv(false, n, k, alpha, b, ldb, a, ta ? lda : 1, beta, c, 1);
        else gemv(true, k, n, alpha, b, ldb, a, ta ? lda : 1, beta, c, 1);
        return true;
    }
    return false;
}

// A 64-byte aligned scratch buffer per thread that only grows (no allocation once warm).
class scratch {
public:
    ~scratch() { std::free(p_); }
    float* get(std::size_t n) {
        if (n > cap_) {
            std::free(p_);
            cap_ = n;
            p_ = static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64));
            if (!p_) throw std::bad_alloc();
        }
        return p_;
    }

private:
    float* p_ = nullptr;
    std::size_t cap_ = 0;
};
thread_local scratch g_work, g_packed;

bool cpu_has_avx512() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return false;
#endif
}

bool own_gemm_default() {
    const char* off = std::getenv("XGRAD_NO_OWN_GEMM");
    return cpu_has_avx512() && !(off && std::string(off) == "1");
}
bool g_own_gemm = own_gemm_default();

// Where xgrad's kernel, packing op(B) on every call, beats OpenBLAS (xgrad_bench_gemm,
// docs/performance.md): a short depth times a large output, i.e. a weight gradient summed over one
// batch (dYᵀ·X, k = 32). Products of a batch of states by a weight gain far more from a weight packed
// once (linear() does that, through gemm_packed) and lose when packed on every call.
bool skinny(std::size_t m, std::size_t n, std::size_t k) { return k <= 64 && m >= 128 && n >= 128; }

}  // namespace

// The kernel runs on one thread: with more BLAS threads OpenBLAS's parallel GEMM is the faster one.
bool own_gemm() { return g_own_gemm && openblas_get_num_threads() == 1; }
bool set_own_gemm(bool on) {
    g_own_gemm = on && cpu_has_avx512();
    return g_own_gemm == on;
}

std::size_t packed_size(std::size_t k, std::size_t n) { return avx512::packed_size(k, n); }
void pack(bool tb, std::size_t k, std::size_t n, const float* b, std::size_t ldb, float* bp) {
    avx512::pack_b(tb, k, n, b, ldb, bp);
}
void pack_rows(bool tb, std::size_t k, std::size_t n, const float* b, std::size_t ldb, float* bp, std::size_t r0,
               std::size_t r1, bool stream) {
    avx512::pack_b_rows(tb, k, n, b, ldb, bp, r0, r1, stream);
}
void gemm_packed(bool ta, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a, std::size_t lda,
                 const float* bp, float beta, float* c, std::size_t ldc) {
    avx512::gemm(ta, m, n, k, alpha, a, lda, bp, beta, c, ldc, g_work.get(avx512::work_size(m)));
}

void gemm_tn_rows(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* const* a_rows,
                  const float* const* b_rows, float beta, float* c, std::size_t ldc) {
    avx512::gemm_tn_rows(m, n, k, alpha, a_rows, b_rows, beta, c, ldc, g_packed.get(avx512::rows_work_size(m, k)));
}

void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a, std::size_t lda,
          const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
    if (m == 0 || n == 0) return;
    if (empty_product(m, n, k, beta, c, ldc)) return;
    if (outer_product(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    if (matrix_vector(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    if (own_gemm() && skinny(m, n, k)) {
        float* bp = g_packed.get(avx512::packed_size(k, n));
        avx512::pack_b(tb, k, n, b, ldb, bp);
        gemm_packed(ta, m, n, k, alpha, a, lda, bp, beta, c, ldc);
        return;
    }
    if (small_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    cblas_sgemm(CblasRowMajor, flag(ta), flag(tb), static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha,
                a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha, const double* a,
          std::size_t lda, const double* b, std::size_t ldb, double beta, double* c, std::size_t ldc) {
    if (m == 0 || n == 0) return;
    if (empty_product(m, n, k, beta, c, ldc)) return;
    if (outer_product(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    if (matrix_vector(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    if (small_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    cblas_dgemm(CblasRowMajor, flag(ta), flag(tb), static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha,
                a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

}  // namespace xgrad::blas

namespace xgrad {

void set_num_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
int num_threads() { return openblas_get_num_threads(); }

// MXCSR bit 15: flush-to-zero (denormal results become 0); bit 6: denormals-are-zero (inputs).
bool set_flush_denormal(bool on) {
#ifdef XGRAD_HAVE_MXCSR
    constexpr unsigned bits = (1u << 15) | (1u << 6);
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(on ? (csr | bits) : (csr & ~bits));
    return true;
#else
    return !on;
#endif
}

bool flush_denormal() {
#ifdef XGRAD_HAVE_MXCSR
    return (_mm_getcsr() & (1u << 15)) != 0;
#else
    return false;
#endif
}

namespace {

std::string lower(std::string s) {
    for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

// The best OpenBLAS x86-64 core this CPU can run, by instruction set (not by model name, which is
// what OpenBLAS 0.3.21 goes by and what VMs hide).
std::string best_core_for_cpu() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return "";
}

// Cores at least as capable as `best`: OpenBLAS names newer AVX-512 parts differently.
bool good_enough(const std::string& core, const std::string& best) {
    const std::string c = lower(core);
    if (best == "SkylakeX") return c == "skylakex" || c == "cooperlake" || c == "sapphirerapids";
    if (best == "Haswell")
        return c == "haswell" || c == "zen" || c == "skylakex" || c == "cooperlake" || c == "sapphirerapids";
    return true;
}

}  // namespace

blas_info blas_config() {
    blas_info info;
    info.config = openblas_get_config();
    info.core = openblas_get_corename();
    info.env_set = std::getenv("OPENBLAS_CORETYPE") != nullptr;
    const std::string best = best_core_for_cpu();
    if (!best.empty() && !good_enough(info.core, best)) info.suggested_core = best;
    return info;
}

}  // namespace xgrad
