// xgrad bench: median wall time per training step (forward + backward + Adam step) and peak RSS for
// the tutorial workload (Elman RNN tanh, hidden 50, 10 steps, batch 32, 1 feature, Dense(1), MSE, Adam,
// float32, 1 thread) or any configuration, and a sweep over cell × hidden × steps × dtype × threads. `--gemm` also measures the machine's GEMM peak
// and the fraction of it each step reaches. Companion for libtorch: bench/torch_bench.cpp; heap
// allocations per step of the same workload: bench/allocations.cpp (xgrad_bench_allocs), which
// replaces malloc for that program only.
//
// The model is the library's own: nn::sequence_regressor (nn::rnn/lstm/gru + nn::linear head,
// PyTorch's initialisation) trained with nn::adam (PyTorch's defaults), exactly what users run
// (bench/workload.hpp, shared with xgrad_bench_allocs).
#include <sys/resource.h>

#include <algorithm>
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

#include <xgrad/nn/data_parallel.hpp>
#include <xgrad/nn/dist.hpp>
#include <xgrad/xgrad.hpp>

#include "../bench/workload.hpp"
#include "commands.hpp"
#include "options.hpp"

namespace xgrad::cli {

namespace {

struct bench_options {
    std::string cell = "rnn";
    std::size_t hidden = 50, steps = 10, batch = 32;
    std::string dtype = "float32";
    int threads = 1;
    int iters = 0;  // 0: about 1.5 s of steps (at least 10)
    bool json = false, sweep = false, gemm = false, blas = false, gates = false;
    int rounds = 3;  // --gemm: paired (peak, step) rounds per configuration
};

using config = bench::workload_config;

std::size_t gate_count(const std::string& cell) { return cell == "lstm" ? 4 : cell == "gru" ? 3 : 1; }

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

// FLOPs of the matrix products one training step executes: forward, dX and dW of the recurrent
// product of steps 1 .. T−1 (step 0 multiplies the zero initial state, a product xgrad skips with its
// gradients), the one-feature
// input projection's forward and dW over all steps, and the head's three.
double step_gemm_flops(const config& c) {
    const double g = double(gate_count(c.cell) * c.hidden), b = double(c.batch), h = double(c.hidden);
    const double t = double(c.steps);
    return (t - 1) * 3 * 2 * b * g * h + 2 * 2 * b * g * t + 3 * 2 * b * h;
}

struct result {
    double ms_per_step, peak_rss_mb;
    int iters;
};

result run_config(const config& c, int iters) {
    set_num_threads(c.threads);
    reset_peak_rss();
    bench::training_workload w(c);
    // Under mpirun every rank trains data-parallel on its own batch (the same synthetic one).
    std::unique_ptr<nn::data_parallel> dp;
    if (dist::world().size() > 1) {
        dp = std::make_unique<nn::data_parallel>(w.model(), dist::world());
        w.after_backward = [&] { dp->finish(); };
    }
    auto step = [&] { w.step(); };
    // Warm-up sizes every buffer; then pick the count for about 1.5 s.
    const auto w0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) step();
    const double warm_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count() / 3;
    if (iters <= 0) iters = std::clamp(int(1.5 / std::max(warm_s, 1e-6)), 10, 2000);
    iters = int(dist::world().broadcast(std::uint64_t(iters)));  // every rank the same number of steps
    std::vector<double> ms;
    ms.reserve(std::size_t(iters));
    for (int i = 0; i < iters; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        step();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    // The ranks step in lockstep; report their mean median.
    return {dist::world().all_reduce(median(ms), dist::reduce::mean), peak_rss_mb(), iters};
}

}  // namespace

command add_bench(CLI::App& app) {
    auto opt = std::make_shared<bench_options>();
    auto* sub = app.add_subcommand(
        "bench", "Time training steps (forward + backward + Adam): median ms/step, peak RSS");
    sub->add_option("--cell", opt->cell, "rnn, lstm or gru")->check(CLI::IsMember({"rnn", "lstm", "gru"}))->capture_default_str();
    whole(*sub, "--hidden", opt->hidden, "Hidden size", 1, 65536);
    whole(*sub, "--steps", opt->steps, "Time steps per sequence", 1, 100000);
    whole(*sub, "--batch", opt->batch, "Batch size", 1, 65536);
    sub->add_option("--dtype", opt->dtype, "float32 or float64")->check(CLI::IsMember({"float32", "float64"}))->capture_default_str();
    whole(*sub, "--threads", opt->threads, "BLAS threads", 1, 256);
    whole(*sub, "--iters", opt->iters, "Timed training steps (0: about 1.5 s worth)", 0, 100000000);
    sub->add_flag("--sweep", opt->sweep, "Run cell {rnn,lstm,gru} × hidden {50,256,1024} × steps {10,100} × dtype × threads {1,2}");
    sub->add_flag("--gemm", opt->gemm, "Also measure the sgemm/dgemm peak and each step's fraction of it");
    sub->add_option("--rounds", opt->rounds, "--gemm: rounds of (peak, step) per configuration; the median fraction is reported")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    sub->add_flag("--gates", opt->gates, "lstm/gru: record each step gate by gate instead of as fused cell ops (A/B)");
    sub->add_flag("--json", opt->json, "One JSON object per configuration");
    sub->add_flag("--blas", opt->blas, "Print the BLAS library, its core, and the core this CPU could use, then exit");
    return [opt]() {
        std::vector<config> configs;
        const xgrad::dtype dt = opt->dtype == "float64" ? dtype::float64 : dtype::float32;
        if (opt->sweep) {
            for (const char* cell : {"rnn", "lstm", "gru"})
                for (std::size_t h : {50, 256, 1024})
                    for (std::size_t s : {10, 100})
                        for (auto d : {dtype::float32, dtype::float64})
                            for (int th : {1, 2}) configs.push_back({cell, h, s, opt->batch, d, th, !opt->gates});
        } else {
            configs.push_back({opt->cell, opt->hidden, opt->steps, opt->batch, dt, opt->threads, !opt->gates});
        }
        const blas_info blas = blas_config();
        if (opt->blas) {
            std::printf("config: %s\ncore: %s%s\nbest core for this CPU: %s\n", blas.config.c_str(), blas.core.c_str(),
                        blas.env_set ? " (from OPENBLAS_CORETYPE)" : "",
                        blas.suggested_core.empty() ? blas.core.c_str() : blas.suggested_core.c_str());
            return 0;
        }
        if (!opt->json) {
            std::printf("BLAS: %s; core %s%s\n", blas.config.c_str(), blas.core.c_str(),
                        blas.env_set ? " (OPENBLAS_CORETYPE)" : "");
            if (!blas.suggested_core.empty())
                std::printf("note: this CPU can run OpenBLAS core %s; set OPENBLAS_CORETYPE=%s for faster GEMMs\n",
                            blas.suggested_core.c_str(), blas.suggested_core.c_str());
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
            std::printf("%-5s %6s %6s %6s %-8s %7s %11s %10s %7s%s\n", "cell", "hidden", "steps", "batch", "dtype",
                        "threads", "ms/step", "peak MB", "iters", opt->gemm ? "  GFLOP/s  of peak" : "");
        for (const auto& c : configs) {
            // The peak drifts with the machine's load, and the step with it. With --gemm each round pairs a step timing with the higher of two peaks measured just
            // before and after it; the fraction reported is the median over the rounds (--rounds), the
            // timing that of the median round.
            const int rounds = opt->gemm ? opt->rounds : 1;
            std::vector<std::pair<double, std::pair<result, double>>> by_fraction;  // (fraction, (timing, peak))
            for (int k = 0; k < rounds; ++k) {
                const double pk_before = opt->gemm ? gemm_gflops(c.dt, 1024, c.threads) : 0;
                const result rk = run_config(c, opt->iters);
                const double pk_k = opt->gemm ? std::max(pk_before, gemm_gflops(c.dt, 1024, c.threads)) : 0;
                const double gf_k = step_gemm_flops(c) / (rk.ms_per_step * 1e-3) / 1e9;
                by_fraction.push_back({pk_k > 0 ? gf_k / pk_k : 0.0, {rk, pk_k}});
            }
            std::sort(by_fraction.begin(), by_fraction.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
            const result r = by_fraction[by_fraction.size() / 2].second.first;
            const double pk = by_fraction[by_fraction.size() / 2].second.second;
            const double gf = step_gemm_flops(c) / (r.ms_per_step * 1e-3) / 1e9;
            const double fmin = by_fraction.front().first, fmax = by_fraction.back().first;
            const int ranks = dist::world().size();
            if (!dist::world().is_root()) continue;  // rank 0 alone prints
            if (opt->json) {
                std::printf("{\"impl\": \"xgrad\", \"cell\": \"%s\", \"hidden\": %zu, \"steps\": %zu, \"batch\": %zu, "
                            "\"dtype\": \"%s\", \"threads\": %d, \"ms_per_step\": %.4f, \"peak_rss_mb\": %.1f, "
                            "\"iters\": %d, \"gemm_gflops\": %.2f, \"blas_core\": \"%s\"",
                            c.cell.c_str(), c.hidden, c.steps, c.batch, dtype_name(c.dt), c.threads, r.ms_per_step,
                            r.peak_rss_mb, r.iters, gf, blas.core.c_str());
                if (pk > 0)
                    std::printf(", \"gemm_peak_gflops\": %.2f, \"fraction_of_peak\": %.3f, \"fraction_min\": %.3f, "
                                "\"fraction_max\": %.3f, \"rounds\": %d",
                                pk, gf / pk, fmin, fmax, rounds);
                // the whole job's throughput: every rank's batch per step
                std::printf(", \"ranks\": %d, \"samples_per_s\": %.1f}\n", ranks,
                            double(ranks) * double(c.batch) / (r.ms_per_step * 1e-3));
            } else {
                std::printf("%-5s %6zu %6zu %6zu %-8s %7d %11.4f %10.1f %7d", c.cell.c_str(), c.hidden, c.steps,
                            c.batch, dtype_name(c.dt), c.threads, r.ms_per_step, r.peak_rss_mb, r.iters);
                if (pk > 0)
                    std::printf("  %7.1f  %6.1f%% of %.1f (median of %d rounds; %.1f–%.1f%%)", gf, 100 * gf / pk, pk, rounds,
                                100 * fmin, 100 * fmax);
                std::printf("\n");
            }
            std::fflush(stdout);
        }
        return 0;
    };
}

}  // namespace xgrad::cli
