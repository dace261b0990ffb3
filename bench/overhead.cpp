// xgrad_bench_overhead: nanoseconds of bookkeeping per recorded op (forward + backward).
// A chain of N ops (add, mul, tanh in turn) on tiny [1] tensors, where the arithmetic is
// negligible and what is measured is the tape: record_op, node slot reuse, backward dispatch,
// gradient zero-fill. The same chain on [32, 50] tensors shows the cost once the data matters.
// One tape is reused with clear() between repeats; the figure is the median over repeats.
//
//   xgrad_bench_overhead [ops=10000] [repeats=31]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

struct result {
    double fwd_ns, bwd_ns;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

result run(const xgrad::shape_t& shape, xgrad::dtype d, int ops, int repeats) {
    xgrad::tape tape;
    xgrad::parameter a(xgrad::tensor::full(shape, 0.5, d), "a");
    xgrad::parameter b(xgrad::tensor::full(shape, 0.25, d), "b");
    std::vector<double> fwd, bwd;
    for (int r = 0; r < repeats + 2; ++r) {  // 2 warm-up repeats size every buffer
        tape.clear();
        a.zero_grad();
        b.zero_grad();
        const auto t0 = clock_type::now();
        xgrad::var y = xgrad::input(xgrad::tensor::full(shape, 0.1, d), {.requires_grad = true});
        const xgrad::var av = a, bv = b;
        for (int i = 1; i < ops - 1; ++i) {  // ops - 2 chain ops + input + sum = ops nodes
            switch (i % 3) {
                case 0: y = xgrad::add(y, bv); break;
                case 1: y = xgrad::mul(y, av); break;
                default: y = xgrad::tanh(y); break;
            }
        }
        xgrad::var loss = xgrad::sum(y);
        const auto t1 = clock_type::now();
        loss.backward();
        const auto t2 = clock_type::now();
        if (r < 2) continue;
        fwd.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / ops);
        bwd.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count() / ops);
    }
    return {median(fwd), median(bwd)};
}

}  // namespace

int main(int argc, char** argv) {
    const int ops = argc > 1 ? std::atoi(argv[1]) : 10000;
    const int repeats = argc > 2 ? std::atoi(argv[2]) : 31;
    xgrad::set_num_threads(1);
    std::printf("xgrad_bench_overhead: chain of %d recorded ops (add, mul, tanh), median of %d repeats, one tape "
                "reused with clear()\n",
                ops, repeats);
    std::printf("%-10s %-8s %12s %12s %12s\n", "shape", "dtype", "fwd ns/op", "bwd ns/op", "total ns/op");
    for (const auto& shape : {xgrad::shape_t{1}, xgrad::shape_t{32, 50}})
        for (auto d : {xgrad::dtype::float32, xgrad::dtype::float64}) {
            const result r = run(shape, d, ops, repeats);
            std::printf("%-10s %-8s %12.1f %12.1f %12.1f\n", xgrad::shape_str(shape).c_str(), xgrad::dtype_name(d),
                        r.fwd_ns, r.bwd_ns, r.fwd_ns + r.bwd_ns);
        }
    return 0;
}
