// xgrad_bench_gemm: the products of recurrent training, timed three ways: OpenBLAS (cblas_sgemm),
// xgrad's AVX-512 kernel packing op(B) on every call (what blas::gemm does for a skinny product), and
// the same kernel on a weight packed once (what linear() does for a recurrent weight), and the time
// to pack op(B).
// Median of `repeats` calls, after warm-up; float32, one thread. OpenBLAS runs the core it detected,
// or the one OPENBLAS_CORETYPE names (the first line says which).
//
//   xgrad_bench_gemm [repeats=51]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "../ops/gemm/blas.hpp"
#include "blas_core.hpp"

namespace {

struct shape {
    const char* what;
    bool ta, tb;
    std::size_t m, n, k;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

template <class F>
double time_us(F&& f, int repeats) {
    for (int i = 0; i < 3; ++i) f();
    std::vector<double> t;
    for (int i = 0; i < repeats; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    return median(t);
}

}  // namespace

int main(int argc, char** argv) {
    xgrad::bench::print_blas_core("xgrad_bench_gemm");
    const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 51;
    xgrad::set_num_threads(1);
    if (!xgrad::blas::set_own_gemm(true)) {
        std::printf("this CPU has no AVX-512: xgrad's kernel is not used here\n");
        return 0;
    }
    // W [out = g·H, in = H] row-major; a batch of 32 states. Forward X·Wᵀ, dX = dY·W, dW = dYᵀ·X, and
// dW of 9 time steps as one product (what linear's backward does for a recurrent weight).
    std::vector<shape> shapes;
    for (std::size_t h : {50, 256, 1024})
        for (std::size_t g : {1, 4}) {
            const std::size_t out = g * h;
            shapes.push_back({"X·Wᵀ ", false, true, 32, out, h});
            shapes.push_back({"dY·W ", false, false, 32, h, out});
            shapes.push_back({"dYᵀ·X", true, false, out, h, 32});
            shapes.push_back({"ΣdYᵀX", true, false, out, h, 32 * 9});  // dW summed over 9 steps at once
        }
    shapes.push_back({"square", false, false, 1024, 1024, 1024});
    std::printf("%-6s %5s %5s %5s %12s %12s %12s %8s %8s %8s %9s\n", "op", "m", "n", "k", "openblas us",
                "own us", "packed us", "GF/s ob", "GF/s own", "GF/s pk", "pack us");
    for (const shape& s : shapes) {
        const std::size_t arows = s.ta ? s.k : s.m, acols = s.ta ? s.m : s.k;
        const std::size_t brows = s.tb ? s.n : s.k, bcols = s.tb ? s.k : s.n;
        std::vector<float> a(arows * acols), b(brows * bcols), c(s.m * s.n);
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = float(i % 7) * 0.1f - 0.3f;
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = float(i % 5) * 0.1f - 0.2f;
        std::vector<float> bp(xgrad::blas::packed_size(s.k, s.n) + 16);
        float* bpa = bp.data() + (64 - reinterpret_cast<std::uintptr_t>(bp.data()) % 64) % 64 / sizeof(float);
        xgrad::blas::pack(s.tb, s.k, s.n, b.data(), bcols, bpa);
        auto product = [&] {
            xgrad::blas::gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), acols, b.data(), bcols, 1.0f, c.data(), s.n);
        };
        xgrad::blas::set_own_gemm(false);
        const double ob = time_us(product, repeats);
        xgrad::blas::set_own_gemm(true);
        const double own = time_us(product, repeats);
        const double pk = time_us(
            [&] {
                xgrad::blas::gemm_packed(s.ta, s.m, s.n, s.k, 1.0f, a.data(), acols, bpa, 1.0f, c.data(), s.n);
            },
            repeats);
        const double pack = time_us([&] { xgrad::blas::pack(s.tb, s.k, s.n, b.data(), bcols, bpa); }, repeats);
        const double flop = 2.0 * double(s.m) * double(s.n) * double(s.k);
        std::printf("%-6s %5zu %5zu %5zu %12.2f %12.2f %12.2f %8.1f %8.1f %8.1f %9.2f\n", s.what, s.m, s.n, s.k, ob, own,
                    pk, flop / ob / 1e3, flop / own / 1e3, flop / pk / 1e3, pack);
    }
    // The summed weight gradient of 10 time steps as linear's backward runs it: C[out, in] = Σ dYᵀ·X over
    // 320 rows. OpenBLAS on rows copied side by side (beta = 1; beta = 0 after zero_grad, which OpenBLAS
    // implements as a zero-fill of C first), against xgrad's kernel reading the rows where they are.
    std::printf("\nsummed dW, k = 320 rows: %-10s %12s %12s %12s %12s\n", "m × n", "openblas b=1", "openblas b=0",
                "rows b=1", "rows b=0");
    for (std::size_t h : {256, 1024}) {
        const std::size_t m = 4 * h, n = h, k = 320;
        std::vector<float> a(k * m), b(k * n), c(m * n, 0.0f);
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = float(i % 7) * 0.1f - 0.3f;
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = float(i % 5) * 0.1f - 0.2f;
        std::vector<const float*> ar(k), br(k);
        for (std::size_t p = 0; p < k; ++p) {
            ar[p] = a.data() + p * m;
            br[p] = b.data() + p * n;
        }
        auto blas = [&](float beta) {
            xgrad::blas::set_own_gemm(false);
            const double t = time_us([&] { xgrad::blas::gemm(true, false, m, n, k, 1.0f, a.data(), m, b.data(), n, beta, c.data(), n); },
                                     repeats);
            xgrad::blas::set_own_gemm(true);
            return t;
        };
        auto rows = [&](float beta) {
            return time_us([&] { xgrad::blas::gemm_tn_rows(m, n, k, 1.0f, ar.data(), br.data(), beta, c.data(), n); },
                           repeats);
        };
        const double flop = 2.0 * double(m) * double(n) * double(k);
        const double t[4] = {blas(1.0f), blas(0.0f), rows(1.0f), rows(0.0f)};
        std::printf("%35zu × %-5zu", m, n);
        for (double x : t) std::printf(" %6.0f us %3.0f GF", x, flop / x / 1e3);
        std::printf("\n");
    }
    return 0;
}
