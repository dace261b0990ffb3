// Where a data-parallel training step's time goes (issue 16, docs/performance.md): the `xgrad bench`
// workload (bench/workload.hpp) under mpirun, each step timed as a whole and its data_parallel::finish
// apart, with data_parallel's own stats (packing/starting, MPI_Test in the hooks, waiting, scaling back).
//   mpirun -np 2 --bind-to core xgrad_bench_mpi_breakdown [cell=lstm] [hidden=1024] [iters=20] [comm|nocomm|allreduce]
// nocomm: every rank trains its replica with no all-reduce at all (finish() is not called), so the
// ranks only share the machine: the ceiling of what communication could ever give back.
// allreduce: only the all-reduce of a float32 [gates·hidden, hidden] buffer (weight_hh's gradient),
// in place, non-blocking + wait (what data_parallel runs), iters times after a barrier each.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <xgrad/nn/data_parallel.hpp>
#include <xgrad/nn/dist.hpp>
#include <xgrad/xgrad.hpp>

#include "workload.hpp"

using namespace xgrad;

namespace {
double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}
double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
    dist::init(&argc, &argv);
    auto& comm = dist::world();
    const std::string cell = argc > 1 ? argv[1] : "lstm";
    const std::size_t hidden = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1024;
    const int iters = argc > 3 ? std::atoi(argv[3]) : 20;
    const std::string mode = argc > 4 ? argv[4] : "comm";
    const bool communicate = mode != "nocomm";
    set_num_threads(1);
    if (mode == "allreduce") {
        const std::size_t gates = cell == "lstm" ? 4 : cell == "gru" ? 3 : 1;
        tensor g = tensor::ones({gates * hidden, hidden}, dtype::float32);
        std::vector<double> ms;
        for (int i = 0; i < iters + 3; ++i) {
            comm.barrier();
            const auto t0 = std::chrono::steady_clock::now();
            comm.all_reduce_async(g, dist::reduce::sum).wait();
            if (i >= 3) ms.push_back(ms_since(t0));
        }
        std::printf("{\"rank\": %d, \"ranks\": %d, \"bytes\": %zu, \"allreduce_ms\": %.2f, \"allreduce_min_ms\": %.2f}\n",
                    comm.rank(), comm.size(), 4 * g.size(), median(ms), *std::min_element(ms.begin(), ms.end()));
        dist::finalize();
        return 0;
    }
    bench::training_workload w({.cell = cell, .hidden = hidden});
    std::unique_ptr<nn::data_parallel> dp;
    if (comm.size() > 1 && communicate) dp = std::make_unique<nn::data_parallel>(w.model(), comm);
    std::vector<double> finish_ms;
    if (dp)
        w.after_backward = [&] {
            const auto t0 = std::chrono::steady_clock::now();
            dp->finish();
            finish_ms.push_back(ms_since(t0));
        };
    for (int i = 0; i < 3; ++i) w.step();
    comm.barrier();
    finish_ms.clear();
    if (dp) dp->reset_stats();
    std::vector<double> step_ms;
    for (int i = 0; i < iters; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        w.step();
        step_ms.push_back(ms_since(t0));
    }
    // median, and the minimum (the step least disturbed by other processes on a shared machine)
    const double step = median(step_ms), fin = median(finish_ms);
    const double step_min = *std::min_element(step_ms.begin(), step_ms.end());
    const double fin_min = finish_ms.empty() ? 0 : *std::min_element(finish_ms.begin(), finish_ms.end());
    nn::data_parallel_stats s;
    if (dp) s = dp->stats();
    const double n = double(std::max<std::size_t>(s.steps, 1));
    std::printf("{\"rank\": %d, \"ranks\": %d, \"cell\": \"%s\", \"hidden\": %zu, \"communicate\": %s, \"step_ms\": %.2f, "
                "\"step_min_ms\": %.2f, \"finish_ms\": %.2f, \"finish_min_ms\": %.2f, \"start_ms\": %.3f, \"test_ms\": %.3f, \"wait_ms\": %.2f, \"unpack_ms\": %.3f, "
                "\"samples_per_s\": %.1f}\n",
                comm.rank(), comm.size(), cell.c_str(), hidden, communicate ? "true" : "false", step, step_min, fin, fin_min,
                1e3 * s.start_s / n, 1e3 * s.test_s / n, 1e3 * s.wait_s / n, 1e3 * s.unpack_s / n,
                32.0 * 1e3 / step);
    std::fflush(stdout);
    dist::finalize();
    return 0;
}
