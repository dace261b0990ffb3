// Hostile input, the engine's side of the CLI cases (issue 14: 3's reshape op, 12's allocation
// failures, the sanitizer build's tanh/sigmoid of ±inf and NaN). The command lines themselves are
// ctests in tests/hostile_cli.cmake.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;
using namespace xgrad::testing;

TEST_CASE("the reshape op refuses a shape whose element count wraps to the input's") {
    tape t;
    const std::size_t huge = std::size_t(1) << 62;  // 2^62 · 4 wraps to 0, the size of a [0] input
    var x = input(tensor::zeros({0}, dtype::float32));
    const auto msg = message_of<shape_error>([&] { (void)reshape(x, {huge, 4}); });
    CHECK(contains(msg, "overflows"));
    CHECK(contains(msg, "reshape"));
    CHECK(reshape(x, {0, 5}).value().size() == 0);
}

#if !defined(__SANITIZE_ADDRESS__)  // ASan aborts on an allocation this large instead of failing it
TEST_CASE("a tensor too large to allocate says its shape and size, not a bare bad_alloc") {
    const std::size_t rows = std::size_t(1) << 44;  // [2^44, 1024] float32: 2^56 bytes = 64 PiB
    const auto msg = message_of<allocation_error>([&] { (void)tensor::zeros({rows, 1024}, dtype::float32); });
    CHECK(contains(msg, "[17592186044416, 1024]"));
    CHECK(contains(msg, "64.0 PiB"));
    CHECK(contains(msg, "out of memory"));
}
#endif

TEST_CASE("tanh and sigmoid saturate on ±inf and huge values, keep NaN, and change nothing in range") {
    for (dtype d : {dtype::float32, dtype::float64}) {
        CAPTURE(dtype_name(d));
        const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
        const double big = d == dtype::float32 ? 3e38 : 1e308;
        const std::vector<double> special{inf, -inf, nan, big, -big, 1e3, -1e3, 45, -45, 900, -900};
        tensor ordinary = randn({37}, 7, d);
        for (std::size_t i = 0; i < 37; ++i) ordinary.set_flat(i, 6 * ordinary.flat(i));  // within every clamp limit
        // mixed: the special values, then ordinary ones; plain: the same layout with 0.5 for each special value
        tensor mixed = tensor::zeros({special.size() + 37}, d), plain = tensor::zeros({special.size() + 37}, d);
        for (std::size_t i = 0; i < special.size(); ++i) {
            mixed.set_flat(i, special[i]);
            plain.set_flat(i, 0.5);
        }
        for (std::size_t i = 0; i < 37; ++i) {
            mixed.set_flat(special.size() + i, ordinary.flat(i));
            plain.set_flat(special.size() + i, ordinary.flat(i));
        }
        tape t;
        const tensor th = tanh(input(mixed)).value(), sg = sigmoid(input(mixed)).value();
        const tensor th_ref = tanh(input(plain)).value(), sg_ref = sigmoid(input(plain)).value();
        for (std::size_t i = 0; i < special.size(); ++i) {
            CAPTURE(special[i]);
            if (std::isnan(special[i])) {
                CHECK(std::isnan(th.flat(i)));
                CHECK(std::isnan(sg.flat(i)));
            } else {
                CHECK(th.flat(i) == (special[i] > 0 ? 1.0 : -1.0));
                if (std::abs(special[i]) >= 900) CHECK(sg.flat(i) == (special[i] > 0 ? 1.0 : 0.0));  // e^-45 is no 0
            }
        }
        // the in-range values are bit-identical whether or not the tensor also held special values
        for (std::size_t i = 0; i < 37; ++i) {
            CHECK(th.flat(special.size() + i) == th_ref.flat(special.size() + i));
            CHECK(sg.flat(special.size() + i) == sg_ref.flat(special.size() + i));
        }
    }
}

TEST_CASE("two threads, each with its own tape and parameters, compute what one thread computes") {
    // The active tape is per thread; parameters are plain shared state, so each thread owns its own.
    const auto run = [](std::uint64_t seed) {
        parameter w(randn({4, 3}, seed, dtype::float64), "w");
        tape t;
        var y = tanh(matmul(input(randn({2, 4}, seed + 1, dtype::float64)), w));
        t.backward(sum(y * y));
        return std::vector<double>{sum(y).item(), w.grad().flat(0), w.grad().flat(11)};
    };
    const auto a_ref = run(1), b_ref = run(2);
    std::vector<double> a, b;
    std::thread ta([&] { a = run(1); }), tb([&] { b = run(2); });
    ta.join();
    tb.join();
    CHECK(a == a_ref);
    CHECK(b == b_ref);
}
