// small_gemm (ops/gemm/small_gemm.cpp, libxsmm's JIT kernels) against a plain double-precision loop, for
// the products it takes (both trans_a, beta 0 and 1, float and double, leading dimensions wider than
// the matrices) and the ones it must decline (trans_b, alpha ≠ 1, beta ∉ {0, 1}, too large), C
// untouched when it declines. blas::gemm, which routes to it, is checked the same way.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "../ops/gemm/blas.hpp"
#include "../ops/gemm/small_gemm.hpp"

using namespace xgrad;

namespace {

template <class T>
std::vector<T> filled(std::size_t n, unsigned seed) {
    std::vector<T> v(n);
    unsigned s = seed * 2654435761u + 1;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = T(int(s >> 9) % 2001 - 1000) / T(1000);
    }
    return v;
}

struct product {
    bool ta, tb;
    std::size_t m, n, k, pad;  // pad: extra columns in every leading dimension
};

// Runs `f` (small_gemm or blas::gemm) on one product; returns whether it took it and the largest
// |got − want| relative to Σ|a||b| + |beta·c| (0 when declined, with C checked unchanged).
template <class T, class F>
std::pair<bool, double> check(const product& p, T alpha, T beta, F f) {
    const std::size_t lda = (p.ta ? p.m : p.k) + p.pad, ldb = (p.tb ? p.k : p.n) + p.pad, ldc = p.n + p.pad;
    const auto a = filled<T>((p.ta ? p.k : p.m) * lda, 1), b = filled<T>((p.tb ? p.n : p.k) * ldb, 2);
    const auto c0 = filled<T>(p.m * ldc, 3);
    auto c = c0;
    if (beta == T(0))
        for (std::size_t i = 0; i < p.m; ++i)
            for (std::size_t j = 0; j < p.n; ++j) c[i * ldc + j] = NAN;  // beta = 0 must not read C
    const bool took = f(p.ta, p.tb, p.m, p.n, p.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
    double worst = 0;
    for (std::size_t i = 0; i < p.m; ++i)
        for (std::size_t j = 0; j < ldc; ++j) {
            const double got = double(c[i * ldc + j]);
            if (j >= p.n) {  // padding columns are never written
                CHECK(got == double(c0[i * ldc + j]));
                continue;
            }
            if (!took) continue;
            double s = 0, mag = 0;
            for (std::size_t l = 0; l < p.k; ++l) {
                const double x = double(p.ta ? a[l * lda + i] : a[i * lda + l]) * double(p.tb ? b[j * ldb + l] : b[l * ldb + j]);
                s += x;
                mag += std::fabs(x);
            }
            const double prior = beta == T(0) ? 0.0 : double(beta) * double(c0[i * ldc + j]);
            const double want = double(alpha) * s + prior;
            worst = std::max(worst, std::fabs(got - want) / (std::fabs(double(alpha)) * mag + std::fabs(prior) + 1e-30));
        }
    return {took, worst};
}

template <class T>
bool small(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda,
           const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
    return blas::small_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
bool through_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda,
                  const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
    blas::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return true;
}

const product taken[] = {
    {false, false, 32, 50, 50, 0},  {true, false, 50, 50, 32, 0},  {false, false, 32, 200, 50, 0},
    {false, false, 32, 50, 200, 0}, {true, false, 200, 50, 32, 0}, {false, false, 32, 150, 50, 3},
    {true, false, 150, 50, 32, 5},  {false, false, 7, 3, 5, 1},    {true, false, 2, 17, 33, 2},
    {false, false, 32, 256, 256, 0},
};

template <class T>
void taken_cases() {
    const double tol = 4 * std::numeric_limits<T>::epsilon() * 64;  // k ≤ 256 terms, relative to Σ|a||b|
    for (const product& p : taken)
        for (T beta : {T(0), T(1)}) {
            CAPTURE(p.ta);
            CAPTURE(p.m);
            CAPTURE(p.n);
            CAPTURE(p.k);
            CAPTURE(p.pad);
            CAPTURE(double(beta));
            const auto [took, err] = check<T>(p, T(1), beta, small<T>);
            CHECK(took);
            CHECK(err <= tol);
            const auto [took2, err2] = check<T>(p, T(1), beta, through_gemm<T>);
            CHECK(took2);
            CHECK(err2 <= tol);
        }
}

template <class T>
void declined_cases() {
    const product p{false, false, 32, 50, 50, 0};
    CHECK_FALSE(check<T>(product{false, true, 32, 50, 50, 0}, T(1), T(1), small<T>).first);  // trans_b
    CHECK_FALSE(check<T>(p, T(2), T(1), small<T>).first);                                     // alpha ≠ 1
    CHECK_FALSE(check<T>(p, T(1), T(0.5), small<T>).first);                                   // beta ∉ {0, 1}
    CHECK_FALSE(check<T>(product{false, false, 32, 1024, 256, 0}, T(1), T(1), small<T>).first);  // > 2²¹ multiply-adds
    // and blas::gemm still computes all of them (through BLAS)
    const double tol = 4 * std::numeric_limits<T>::epsilon() * 64;
    CHECK(check<T>(product{false, true, 32, 50, 50, 0}, T(1), T(1), through_gemm<T>).second <= tol);
    CHECK(check<T>(p, T(2), T(0.5), through_gemm<T>).second <= tol);
}

}  // namespace

TEST_CASE("small_gemm: the products it takes, float and double, against a double loop") {
    if (!blas::small_gemm_on()) {
        MESSAGE("small_gemm is off here (XGRAD_NO_XSMM=1, or libxsmm has no AVX-512 kernels for this CPU)");
        return;
    }
    taken_cases<float>();
    taken_cases<double>();
}

TEST_CASE("small_gemm: declines trans_b, alpha ≠ 1, beta ∉ {0, 1} and large products, leaving C alone") {
    declined_cases<float>();
    declined_cases<double>();
}

TEST_CASE("small_gemm: off, it takes nothing") {
    const bool was = blas::small_gemm_on();
    blas::set_small_gemm(false);
    CHECK_FALSE(check<float>(product{false, false, 32, 50, 50, 0}, 1.0f, 1.0f, small<float>).first);
    blas::set_small_gemm(was);
}
