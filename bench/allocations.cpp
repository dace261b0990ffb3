// xgrad_bench_allocs: heap allocations per training step (zero_grad + forward + backward + Adam) in the
// steady state, counted by replacing malloc and its family for this program only (operator new and
// xtensor's aligned allocator both end in malloc; so do OpenBLAS's own buffers). The workload is
// `xgrad bench`'s (bench/workload.hpp), after three warm-up steps that size every buffer. 0 means a
// step allocates nothing, the tape reusing its memory.
//
//   xgrad_bench_allocs [cell=rnn] [hidden=50] [steps=10] [batch=32] [dtype=float32] [threads=1] [iters=100]
//   xgrad_bench_allocs --sweep       cell {rnn,lstm,gru} × hidden {50,256} × threads {1,2}
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "blas_core.hpp"
#include "workload.hpp"

// ---- the counter: glibc's own entry points behind a count. Not under AddressSanitizer, which owns
// malloc itself (the count is then reported as unavailable).
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

namespace {

using namespace xgrad;

using config = bench::workload_config;

// Allocations per step, the mean over `iters` steps after the warm-up.
double allocs_per_step(const config& c, int iters) {
    set_num_threads(c.threads);
    bench::training_workload w(c);
    for (int i = 0; i < 3; ++i) w.step();
    const std::uint64_t before = g_allocs.load();
    for (int i = 0; i < iters; ++i) w.step();
    return double(g_allocs.load() - before) / iters;
}

std::size_t positive(const char* s, const char* what) {
    const long v = std::strtol(s, nullptr, 10);
    if (v < 1) {
        std::fprintf(stderr, "xgrad_bench_allocs: %s must be a positive number, got '%s'\n", what, s);
        std::exit(2);
    }
    return std::size_t(v);
}

}  // namespace

int main(int argc, char** argv) {
    if (!counting_allocs) {
        std::printf("xgrad_bench_allocs: not available under AddressSanitizer (it replaces malloc itself)\n");
        return 0;
    }
    std::vector<config> configs;
    int iters = 100;
    if (argc > 1 && std::string(argv[1]) == "--sweep") {
        for (const char* cell : {"rnn", "lstm", "gru"})
            for (std::size_t h : {50, 256})
                for (int th : {1, 2}) configs.push_back({.cell = cell, .hidden = h, .threads = th});
    } else {
        config c;
        if (argc > 1) c.cell = argv[1];
        if (c.cell != "rnn" && c.cell != "lstm" && c.cell != "gru") {
            std::fprintf(stderr, "xgrad_bench_allocs: cell must be rnn, lstm or gru, got '%s'\n", argv[1]);
            return 2;
        }
        if (argc > 2) c.hidden = positive(argv[2], "hidden");
        if (argc > 3) c.steps = positive(argv[3], "steps");
        if (argc > 4) c.batch = positive(argv[4], "batch");
        if (argc > 5) {
            const std::string d = argv[5];
            if (d != "float32" && d != "float64") {
                std::fprintf(stderr, "xgrad_bench_allocs: dtype must be float32 or float64, got '%s'\n", argv[5]);
                return 2;
            }
            c.dt = d == "float64" ? dtype::float64 : dtype::float32;
        }
        if (argc > 6) c.threads = int(positive(argv[6], "threads"));
        if (argc > 7) iters = int(positive(argv[7], "iters"));
        configs.push_back(c);
    }
    bench::print_blas_core("xgrad_bench_allocs");
    std::printf("%-5s %6s %6s %6s %-8s %7s %12s %7s\n", "cell", "hidden", "steps", "batch", "dtype", "threads",
                "allocs/step", "iters");
    for (const auto& c : configs) {
        const double a = allocs_per_step(c, iters);
        std::printf("%-5s %6zu %6zu %6zu %-8s %7d %12.1f %7d\n", c.cell.c_str(), c.hidden, c.steps, c.batch,
                    dtype_name(c.dt), c.threads, a, iters);
        std::fflush(stdout);
    }
    return 0;
}
