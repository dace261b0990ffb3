// xgrad bench: median wall time per training step (forward + backward + Adam step), peak RSS and
// heap allocations per step, for the tutorial workload (Elman RNN tanh, hidden 50, 10 steps,
// batch 32, 1 feature, Dense(1), MSE, Adam, float32, 1 thread) or any configuration, and a sweep
// over cell × hidden × steps × dtype × threads. `--gemm` also measures the machine's GEMM peak
// and the fraction of it each step reaches. Companion for libtorch: bench/torch_bench.cpp.
//
// The model is built here from registered ops (linear, tanh, sigmoid, mul, add, sub, slice,
// select) with PyTorch's gate order, like nn::rnn/lstm/gru; swap `bench_model` for the nn layers
// once they are on main (the forward is the only place that changes).
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "commands.hpp"

// ---- allocation counter: every malloc-family call in this program (operator new and
// xtensor's aligned allocator both end in malloc). Forwarded to glibc's own entry points.
// Not under AddressSanitizer, which owns malloc itself: allocs_per_step is then reported as -1.
namespace {
std::atomic<std::uint64_t> g_allocs{0};
}
#if defined(__SANITIZE_ADDRESS__)
namespace {
constexpr bool counting_allocs = false;
}
#else
namespace {
constexpr bool counting_allocs = true;
}
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}
extern "C" {
void* malloc(size_t n) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
void free(void* p) { __libc_free(p); }
void* memalign(size_t al, size_t n) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(al, n);
}
void* aligned_alloc(size_t al, size_t n) { return memalign(al, n); }
int posix_memalign(void** out, size_t al, size_t n) {
    void* p = memalign(al, n);
    if (!p) return 12;  // ENOMEM
    *out = p;
    return 0;
}
}
#endif

namespace xgrad::cli {

namespace {

struct bench_options {
    std::string cell = "rnn";
    std::size_t hidden = 50, steps = 10, batch = 32;
    std::string dtype = "float32";
    int threads = 1;
    int iters = 0;  // 0: about 1.5 s of steps (at least 10)
    bool json = false, sweep = false, gemm = false;
};

struct config {
    std::string cell;
    std::size_t hidden, steps, batch;
    xgrad::dtype dt;
    int threads;
};

std::size_t gate_count(const std::string& cell) { return cell == "lstm" ? 4 : cell == "gru" ? 3 : 1; }

// ---- the model: one recurrent layer (PyTorch names and gate order) + Dense(1) ----
struct bench_model {
    std::string cell;
    std::size_t h;
    parameter w_ih, w_hh, b_ih, b_hh, w_out, b_out;
    tensor h0;  // zero initial state, copied into a reused node buffer each step

    bench_model(const config& c, std::size_t in) : cell(c.cell), h(c.hidden) {
        const std::size_t g = gate_count(c.cell) * h;
        const double k = 1.0 / std::sqrt(double(h));
        rng gen(42);
        w_ih = parameter(uniform({g, in}, -k, k, gen, c.dt), "weight_ih_l0");
        w_hh = parameter(uniform({g, h}, -k, k, gen, c.dt), "weight_hh_l0");
        b_ih = parameter(uniform({g}, -k, k, gen, c.dt), "bias_ih_l0");
        b_hh = parameter(uniform({g}, -k, k, gen, c.dt), "bias_hh_l0");
        w_out = parameter(uniform({1, h}, -k, k, gen, c.dt), "weight");
        b_out = parameter(uniform({1}, -k, k, gen, c.dt), "bias");
        h0 = tensor::zeros({c.batch, h}, c.dt);
    }
    std::vector<parameter> parameters() const { return {w_ih, w_hh, b_ih, b_hh, w_out, b_out}; }

    var operator()(const var& x) const {  // x [batch, time, in] -> [batch, 1]
        const std::size_t steps = x.shape()[1];
        var hs = constant(h0);
        var cs = hs;
        for (std::size_t t = 0; t < steps; ++t) {
            var gi = linear(select(x, 1, t), w_ih, b_ih);
            var gh = linear(hs, w_hh, b_hh);
            if (cell == "rnn") {
                hs = tanh(gi + gh);
            } else if (cell == "lstm") {  // i, f, g, o
                var gates = gi + gh;
                var i = sigmoid(slice(gates, 1, 0, h));
                var f = sigmoid(slice(gates, 1, h, 2 * h));
                var gg = tanh(slice(gates, 1, 2 * h, 3 * h));
                var o = sigmoid(slice(gates, 1, 3 * h, 4 * h));
                cs = f * cs + i * gg;
                hs = o * tanh(cs);
            } else {  // gru: r, z, n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
                var r = sigmoid(slice(gi, 1, 0, h) + slice(gh, 1, 0, h));
                var z = sigmoid(slice(gi, 1, h, 2 * h) + slice(gh, 1, h, 2 * h));
                var n = tanh(slice(gi, 1, 2 * h, 3 * h) + r * slice(gh, 1, 2 * h, 3 * h));
                hs = n + z * (hs - n);  // (1 - z) ⊙ n + z ⊙ h
            }
        }
        return linear(hs, w_out, b_out);
    }
};

// ---- Adam (β1 0.9, β2 0.999, ε 1e-8, lr 1e-3), PyTorch's update; replace by nn/optim.hpp ----
struct bench_adam {
    std::vector<parameter> params;
    std::vector<tensor> m, v;
    long t = 0;
    explicit bench_adam(std::vector<parameter> p) : params(std::move(p)) {
        for (auto& q : params) {
            m.push_back(tensor::zeros(q.shape(), q.dtype()));
            v.push_back(tensor::zeros(q.shape(), q.dtype()));
        }
    }
    void zero_grad() {
        for (auto& p : params) p.zero_grad();
    }
    void step(double lr = 1e-3) {
        ++t;
        const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
        const double c1 = 1 - std::pow(b1, double(t)), c2 = 1 - std::pow(b2, double(t));
        for (std::size_t k = 0; k < params.size(); ++k) {
            if (!params[k].grad().defined()) continue;
            params[k].value().visit([&](auto& w) {
                using T = typename std::decay_t<decltype(w)>::value_type;
                T* wp = w.data();
                const T* g = params[k].grad().template data<T>();
                T* mp = m[k].data<T>();
                T* vp = v[k].data<T>();
                const T sb1 = T(b1), sb2 = T(b2), step = T(lr / c1), rc2 = T(1 / std::sqrt(c2)), e = T(eps);
                for (std::size_t i = 0, n = w.size(); i < n; ++i) {
                    mp[i] = sb1 * mp[i] + (1 - sb1) * g[i];
                    vp[i] = sb2 * vp[i] + (1 - sb2) * g[i] * g[i];
                    wp[i] -= step * mp[i] / (std::sqrt(vp[i]) * rc2 + e);
                }
            });
        }
    }
};

double peak_rss_mb() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}
void reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    if (f) f << "5";
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// GFLOP/s of an n×n·n×n product (the best of a few).
double gemm_gflops(xgrad::dtype d, std::size_t n, int threads) {
    set_num_threads(threads);
    tape t;
    no_grad ng;
    parameter a(randn({n, n}, 1, d)), b(randn({n, n}, 2, d));
    double best = 0;
    for (int i = 0; i < 6; ++i) {
        t.clear();
        const auto t0 = std::chrono::steady_clock::now();
        var c = matmul(a, b);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, 2.0 * double(n) * double(n) * double(n) / s / 1e9);
    }
    return best;
}

// FLOPs of the GEMMs of one training step (forward, dX and dW: 3 products per linear).
double step_gemm_flops(const config& c) {
    const double g = double(gate_count(c.cell) * c.hidden), b = double(c.batch), h = double(c.hidden);
    return double(c.steps) * 3 * 2 * b * g * (h + 1) + 3 * 2 * b * h;
}

struct result {
    double ms_per_step, peak_rss_mb, allocs_per_step;
    int iters;
};

result run_config(const config& c, int iters) {
    set_num_threads(c.threads);
    reset_peak_rss();
    tape tape;
    bench_model model(c, 1);
    bench_adam opt(model.parameters());
    const tensor x = randn({c.batch, c.steps, 1}, 7, c.dt);
    const tensor y = randn({c.batch, 1}, 8, c.dt);
    auto step = [&] {
        tape.clear();
        opt.zero_grad();
        var xv = constant(x);
        var loss = mse(model(xv), constant(y));
        loss.backward();
        opt.step();
    };
    // Warm-up sizes every buffer; then pick the count for about 1.5 s.
    const auto w0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) step();
    const double warm_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count() / 3;
    if (iters <= 0) iters = std::clamp(int(1.5 / std::max(warm_s, 1e-6)), 10, 2000);
    std::vector<double> ms;
    ms.reserve(std::size_t(iters));
    const std::uint64_t a0 = g_allocs.load();
    for (int i = 0; i < iters; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        step();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    const double allocs = counting_allocs ? double(g_allocs.load() - a0) / iters : -1.0;
    return {median(ms), peak_rss_mb(), allocs, iters};
}

}  // namespace

command add_bench(CLI::App& app) {
    auto opt = std::make_shared<bench_options>();
    auto* sub = app.add_subcommand(
        "bench", "Time training steps (forward + backward + Adam): median ms/step, peak RSS, allocations/step");
    sub->add_option("--cell", opt->cell, "rnn, lstm or gru")->check(CLI::IsMember({"rnn", "lstm", "gru"}))->capture_default_str();
    sub->add_option("--hidden", opt->hidden, "Hidden size")->capture_default_str();
    sub->add_option("--steps", opt->steps, "Time steps per sequence")->capture_default_str();
    sub->add_option("--batch", opt->batch, "Batch size")->capture_default_str();
    sub->add_option("--dtype", opt->dtype, "float32 or float64")->check(CLI::IsMember({"float32", "float64"}))->capture_default_str();
    sub->add_option("--threads", opt->threads, "BLAS threads")->capture_default_str();
    sub->add_option("--iters", opt->iters, "Timed training steps (0: about 1.5 s worth)")->capture_default_str();
    sub->add_flag("--sweep", opt->sweep, "Run cell {rnn,lstm,gru} × hidden {50,256,1024} × steps {10,100} × dtype × threads {1,2}");
    sub->add_flag("--gemm", opt->gemm, "Also measure the sgemm/dgemm peak and each step's fraction of it");
    sub->add_flag("--json", opt->json, "One JSON object per configuration");
    return [opt]() {
        std::vector<config> configs;
        const xgrad::dtype dt = opt->dtype == "float64" ? dtype::float64 : dtype::float32;
        if (opt->sweep) {
            for (const char* cell : {"rnn", "lstm", "gru"})
                for (std::size_t h : {50, 256, 1024})
                    for (std::size_t s : {10, 100})
                        for (auto d : {dtype::float32, dtype::float64})
                            for (int th : {1, 2}) configs.push_back({cell, h, s, opt->batch, d, th});
        } else {
            configs.push_back({opt->cell, opt->hidden, opt->steps, opt->batch, dt, opt->threads});
        }
        double peak[2][3] = {};  // [dtype][threads]
        if (opt->gemm) {
            for (auto d : {dtype::float32, dtype::float64})
                for (int th : {1, 2}) {
                    peak[int(d)][th] = gemm_gflops(d, 1024, th);
                    if (!opt->json)
                        std::printf("GEMM peak %s, %d thread%s: %.1f GFLOP/s (1024×1024·1024×1024, best of 6)\n",
                                    dtype_name(d), th, th > 1 ? "s" : "", peak[int(d)][th]);
                    else
                        std::printf("{\"gemm\": \"%s\", \"threads\": %d, \"gflops\": %.2f}\n", dtype_name(d), th,
                                    peak[int(d)][th]);
                }
        }
        if (!opt->json)
            std::printf("%-5s %6s %6s %6s %-8s %7s %11s %10s %12s %7s%s\n", "cell", "hidden", "steps", "batch", "dtype",
                        "threads", "ms/step", "peak MB", "allocs/step", "iters", opt->gemm ? "  GFLOP/s  of peak" : "");
        for (const auto& c : configs) {
            const result r = run_config(c, opt->iters);
            const double gf = step_gemm_flops(c) / (r.ms_per_step * 1e-3) / 1e9;
            const double pk = c.threads <= 2 ? peak[int(c.dt)][c.threads] : 0;
            if (opt->json) {
                std::printf("{\"impl\": \"xgrad\", \"cell\": \"%s\", \"hidden\": %zu, \"steps\": %zu, \"batch\": %zu, "
                            "\"dtype\": \"%s\", \"threads\": %d, \"ms_per_step\": %.4f, \"peak_rss_mb\": %.1f, "
                            "\"allocs_per_step\": %.1f, \"iters\": %d, \"gemm_gflops\": %.2f",
                            c.cell.c_str(), c.hidden, c.steps, c.batch, dtype_name(c.dt), c.threads, r.ms_per_step,
                            r.peak_rss_mb, r.allocs_per_step, r.iters, gf);
                if (pk > 0) std::printf(", \"fraction_of_peak\": %.3f", gf / pk);
                std::printf("}\n");
            } else {
                std::printf("%-5s %6zu %6zu %6zu %-8s %7d %11.4f %10.1f %12.1f %7d", c.cell.c_str(), c.hidden, c.steps,
                            c.batch, dtype_name(c.dt), c.threads, r.ms_per_step, r.peak_rss_mb, r.allocs_per_step,
                            r.iters);
                if (pk > 0) std::printf("  %7.1f  %6.1f%%", gf, 100 * gf / pk);
                std::printf("\n");
            }
            std::fflush(stdout);
        }
        return 0;
    };
}

}  // namespace xgrad::cli
