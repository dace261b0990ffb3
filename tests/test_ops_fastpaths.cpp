// The fast paths behind some ops give the same values as the plain formulas: the SIMD tanh, linear()'s
// cached transposed weight (a parameter used at every time step), and gradient buffers assigned by
// the first rule that writes them.
#include <doctest/doctest.h>

#include <cmath>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

namespace {

// Largest |a − b| / |b| over the elements (b from std::tanh in long double).
template <class T>
double tanh_max_rel_error(const std::vector<double>& xs) {
    tape t;
    tensor x = tensor::zeros({xs.size()}, std::is_same_v<T, float> ? dtype::float32 : dtype::float64);
    for (std::size_t i = 0; i < xs.size(); ++i) x.set_flat(i, xs[i]);
    var y = tanh(input(x));
    double worst = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        const long double xi = static_cast<T>(xs[i]);
        const long double ref = std::tanh(xi);
        const long double got = y.value().flat(i);
        const long double err = ref == 0 ? std::fabs(got) : std::fabs((got - ref) / ref);
        worst = std::max(worst, double(err));
    }
    return worst;
}

std::vector<double> tanh_points() {
    std::vector<double> xs{0.0, -0.0, 1e-30, -1e-8, 0.2499999, 0.25, 0.2500001, -0.25, 0.625, 1.0, -3.0, 9.0, 20.0,
                           -40.0, 400.0, -1e4};
    rng gen(3);
    for (int i = 0; i < 4000; ++i) xs.push_back(gen.uniform(-6, 6) * std::pow(10.0, gen.uniform(-3, 0.5)));
    return xs;
}

}  // namespace

TEST_CASE("tanh agrees with std::tanh to a few ulp over its whole range, float and double") {
    const auto xs = tanh_points();
    CHECK(tanh_max_rel_error<float>(xs) < 4 * 6e-8);
    CHECK(tanh_max_rel_error<double>(xs) < 8 * 1.2e-16);
}

TEST_CASE("tanh of special values: ±0 keep their sign, ±inf give ±1, NaN stays NaN") {
    tape t;
    tensor x = tensor::zeros({16}, dtype::float64);
    const double v[] = {0.0, -0.0, INFINITY, -INFINITY, NAN};
    for (std::size_t i = 0; i < 16; ++i) x.set_flat(i, v[i % 5]);
    var y = tanh(input(x));
    CHECK(y.value().flat(0) == 0.0);
    CHECK(std::signbit(y.value().flat(1)));
    CHECK(y.value().flat(2) == 1.0);
    CHECK(y.value().flat(3) == -1.0);
    CHECK(std::isnan(y.value().flat(4)));
}

TEST_CASE("a weight used at many steps gives the same values and gradients as the uncached product") {
    for (dtype d : {dtype::float32, dtype::float64}) {
        parameter w(randn({7, 5}, 1, d), "w");
        parameter b(randn({7}, 2, d), "b");
        const tensor x0 = randn({3, 5}, 3, d), x1 = randn({3, 5}, 4, d), x2 = randn({3, 5}, 5, d);
        tape t;
        // Uses 2 and 3 of w run through the cached transpose; matmul(x, transpose(w)) never does.
        var y = linear(input(x0), w, b) + linear(input(x1), w, b) + linear(input(x2), w);
        var ref = matmul(input(x0), transpose(w)) + b + matmul(input(x1), transpose(w)) + b +
                  matmul(input(x2), transpose(w));
        const double tol = d == dtype::float32 ? 1e-5 : 1e-13;
        for (std::size_t i = 0; i < y.value().size(); ++i)
            CHECK(y.value().flat(i) == doctest::Approx(ref.value().flat(i)).epsilon(tol));
        t.backward(sum(y * y));
        const tensor g = w.grad();
        w.zero_grad();
        b.zero_grad();
        t.backward(sum(ref * ref));
        for (std::size_t i = 0; i < g.size(); ++i)
            CHECK(g.flat(i) == doctest::Approx(w.grad().flat(i)).epsilon(tol));
    }
}

TEST_CASE("a weight changed between two uses on one tape is never read from a stale cache") {
    parameter w(randn({4, 3}, 1, dtype::float64), "w");
    const tensor x = randn({2, 3}, 2, dtype::float64);
    tape t;
    var a = linear(input(x), w);  // first use: no cache
    var b = linear(input(x), w);  // second use: caches wᵀ
    w.value().set_flat(0, w.value().flat(0) + 1.0);  // an in-place change bumps the parameter's version
    var c = linear(input(x), w);  // must see the new value
    CHECK(a.value().flat(0) == b.value().flat(0));
    CHECK(c.value().flat(0) == doctest::Approx(b.value().flat(0) + x.flat(0)).epsilon(1e-14));
    CHECK(c.value().flat(4) == doctest::Approx(b.value().flat(4) + x.flat(3)).epsilon(1e-14));  // y[1,0]
    CHECK(c.value().flat(1) == b.value().flat(1));  // y[0,1] does not read w[0,0]
}

TEST_CASE("the first rule to write a gradient assigns it, later ones add: fan-out and x*x stay exact") {
    tape t;
    tensor xv = randn({4, 3}, 9, dtype::float64);
    var x = input(xv, {.requires_grad = true});
    // x feeds mul(x, x) (both inputs), tanh(x) and linear(x, w): four writers of one buffer.
    parameter w(randn({2, 3}, 10, dtype::float64), "w");
    var loss = sum(x * x) + sum(tanh(x)) + sum(linear(x, w));
    t.backward(loss);
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 3; ++j) {
            const double xi = xv.flat(i * 3 + j), th = std::tanh(xi);
            const double expect = 2 * xi + (1 - th * th) + w.value().flat(j) + w.value().flat(3 + j);
            CHECK(x.grad().flat(i * 3 + j) == doctest::Approx(expect).epsilon(1e-13));
        }
    // A second backward on the same tape starts from fresh buffers again (no stale sums).
    w.zero_grad();
    t.backward(loss);
    CHECK(x.grad().flat(0) == doctest::Approx(2 * xv.flat(0) + (1 - std::pow(std::tanh(xv.flat(0)), 2)) +
                                              w.value().flat(0) + w.value().flat(3)).epsilon(1e-13));
}

TEST_CASE("set_flush_denormal: denormal floats become zero while it is on, and stay exact after") {
    tape t;
    tensor x = tensor::full({4}, 1e-39, dtype::float32);  // below float's smallest normal (1.18e-38)
    const bool was = flush_denormal();
    REQUIRE(set_flush_denormal(true));
    CHECK(flush_denormal());
    var y = input(x) * 1.0;
    CHECK(y.value().flat(0) == 0.0);
    set_flush_denormal(false);
    CHECK(!flush_denormal());
    var z = input(x) * 1.0;
    CHECK(z.value().flat(0) == doctest::Approx(1e-39).epsilon(1e-3));
    set_flush_denormal(was);
}

TEST_CASE("linear of a known-zero constant (full(shape, 0)) skips its products and changes nothing") {
    for (dtype d : {dtype::float32, dtype::float64}) {
        parameter w(randn({4, 4}, 1, d), "w");
        parameter b(randn({4}, 2, d), "b");
        const tensor x = randn({3, 4}, 3, d);
        auto run = [&](bool known) {
            tape t;
            var h0 = known ? full({3, 4}, 0.0, d) : constant(tensor::zeros({3, 4}, d));
            var h1 = tanh(linear(h0, w, b) + linear(input(x), w));
            var y = linear(h1, w, b);  // w used three times, the first time on zeros
            w.zero_grad();
            b.zero_grad();
            t.backward(sum(y * y));
            return std::make_tuple(y.value(), w.grad(), b.grad());
        };
        const auto [y1, gw1, gb1] = run(true);
        const auto [y0, gw0, gb0] = run(false);
        for (std::size_t i = 0; i < y0.size(); ++i) CHECK(y1.flat(i) == y0.flat(i));
        for (std::size_t i = 0; i < gw0.size(); ++i) CHECK(gw1.flat(i) == gw0.flat(i));
        for (std::size_t i = 0; i < gb0.size(); ++i) CHECK(gb1.flat(i) == gb0.flat(i));
    }
    tape t;
    parameter w(randn({2, 3}, 4, dtype::float64), "w");
    var y = linear(full({4, 3}, 0.0, dtype::float64), w);  // no bias: exactly zero
    for (std::size_t i = 0; i < y.value().size(); ++i) CHECK(y.value().flat(i) == 0.0);
    t.backward(sum(y));
    REQUIRE(w.grad().defined());
    for (std::size_t i = 0; i < 6; ++i) CHECK(w.grad().flat(i) == 0.0);
}

TEST_CASE("matmul and linear agree with plain loops for every small shape (outer products, gemv paths)") {
    // Sizes 1 route the products through the outer-product and matrix-vector paths of ops/blas.cpp.
    for (std::size_t m : {1, 2, 3})
        for (std::size_t k : {1, 2, 3})
            for (std::size_t n : {1, 2, 3}) {
                CAPTURE(m);
                CAPTURE(k);
                CAPTURE(n);
                const tensor a = randn({m, k}, 1, dtype::float64), b = randn({k, n}, 2, dtype::float64);
                const tensor w = randn({n, k}, 3, dtype::float64), g = randn({m, n}, 4, dtype::float64);
                tape t;
                var av = input(a, {.requires_grad = true}), bv = input(b, {.requires_grad = true});
                var wv = input(w, {.requires_grad = true}), av2 = input(a, {.requires_grad = true});
                var y = matmul(av, bv);   // y = a·b
                var z = linear(av2, wv);  // z = a·wᵀ
                t.backward(sum(y * input(g)) + sum(z * input(g)));
                for (std::size_t i = 0; i < m; ++i)
                    for (std::size_t j = 0; j < n; ++j) {
                        double ab = 0, aw = 0;
                        for (std::size_t l = 0; l < k; ++l) {
                            ab += a.flat(i * k + l) * b.flat(l * n + j);
                            aw += a.flat(i * k + l) * w.flat(j * k + l);
                        }
                        CHECK(y.value().flat(i * n + j) == doctest::Approx(ab).epsilon(1e-13));
                        CHECK(z.value().flat(i * n + j) == doctest::Approx(aw).epsilon(1e-13));
                    }
                for (std::size_t i = 0; i < m; ++i)
                    for (std::size_t l = 0; l < k; ++l) {
                        double da = 0, da2 = 0;  // dL/da = g·bᵀ, and g·w for linear
                        for (std::size_t j = 0; j < n; ++j) {
                            da += g.flat(i * n + j) * b.flat(l * n + j);
                            da2 += g.flat(i * n + j) * w.flat(j * k + l);
                        }
                        CHECK(av.grad().flat(i * k + l) == doctest::Approx(da).epsilon(1e-13));
                        CHECK(av2.grad().flat(i * k + l) == doctest::Approx(da2).epsilon(1e-13));
                    }
                for (std::size_t l = 0; l < k; ++l)
                    for (std::size_t j = 0; j < n; ++j) {
                        double db = 0, dw = 0;  // dL/db = aᵀ·g, dL/dw = gᵀ·a
                        for (std::size_t i = 0; i < m; ++i) {
                            db += a.flat(i * k + l) * g.flat(i * n + j);
                            dw += g.flat(i * n + j) * a.flat(i * k + l);
                        }
                        CHECK(bv.grad().flat(l * n + j) == doctest::Approx(db).epsilon(1e-13));
                        CHECK(wv.grad().flat(j * k + l) == doctest::Approx(dw).epsilon(1e-13));
                    }
            }
}

TEST_CASE("a large weight used at many steps: its gradient, summed at the end of the sweep, equals the per-step one") {
    for (dtype d : {dtype::float32, dtype::float64}) {
        CAPTURE(dtype_name(d));
        parameter w(randn({160, 130}, 1, d), "w");  // ≥ 2¹⁴ elements: linear defers its dW
        std::vector<tensor> xs;
        // uses of 7 and 3 rows: the rows noted aside differ in count from use to use
    for (unsigned s = 0; s < 4; ++s) xs.push_back(randn({s == 0 ? 7u : 3u, 130}, 10 + s, d));
        auto grads = [&](bool use_linear, bool skip_last) {
            w.zero_grad();
            tape t;
            var total = full({}, 0.0, d);
            for (std::size_t s = 0; s < xs.size(); ++s) {
                var y = use_linear ? linear(input(xs[s]), w) : matmul(input(xs[s]), transpose(w));
                if (!(skip_last && s + 1 == xs.size())) total = total + sum(tanh(y));  // the last use may get no gradient
            }
            t.backward(total);
            t.backward(total);  // a second sweep accumulates again
            return w.grad();
        };
        const double tol = d == dtype::float32 ? 1e-4 : 1e-12;
        for (bool skip_last : {false, true}) {
            CAPTURE(skip_last);
            const tensor deferred = grads(true, skip_last), direct = grads(false, skip_last);
            double worst = 0;
            for (std::size_t i = 0; i < direct.size(); ++i)
                worst = std::max(worst, std::fabs(deferred.flat(i) - direct.flat(i)) / (1 + std::fabs(direct.flat(i))));
            CHECK(worst < tol);
        }
    }
}

TEST_CASE("zero_grad marks a gradient zero without filling it: reads see zeros, the first product stores") {
    // Stale memory under the mark must never show: fill the buffers with NaN, zero_grad, and the next
    // backward (with anomaly checks on) must give exactly a fresh parameter's gradient.
    for (dtype d : {dtype::float32, dtype::float64}) {
        CAPTURE(dtype_name(d));
        for (std::size_t rows : {160u, 6u}) {  // 160 × 130 defers its dW to the sweep's end, 6 × 130 does not
            CAPTURE(rows);
            const tensor w0 = randn({rows, 130}, 4, d);
            std::vector<tensor> xs;
            for (unsigned s = 0; s < 3; ++s) xs.push_back(randn({3, 130}, 20 + s, d));
            auto run = [&](parameter& w, int sweeps) {
                tape t;
                detect_anomaly on;
                var total = full({}, 0.0, d);
                for (const tensor& x : xs) total = total + sum(tanh(linear(input(x), w)));
                total = total + sum(w * w);  // a second rule that adds into the same gradient
                for (int s = 0; s < sweeps; ++s) t.backward(total);
            };
            parameter fresh(w0, "fresh");
            run(fresh, 1);
            const tensor expect = fresh.grad();

            parameter w(w0, "w");
            run(w, 1);
            w.grad().fill(std::nan(""));
            w.zero_grad();
            CHECK(w.state_ptr()->grad_fresh);
            run(w, 1);
            double worst = 0;
            for (std::size_t i = 0; i < expect.size(); ++i) worst = std::max(worst, std::fabs(w.grad().flat(i) - expect.flat(i)));
            CHECK(worst == 0.0);

            w.grad().fill(std::nan(""));
            w.zero_grad();
            for (std::size_t i = 0; i < w.grad().size(); ++i) REQUIRE(w.grad().flat(i) == 0.0);  // read: filled
            w.zero_grad();
            run(w, 2);  // two sweeps: the second adds to what the first stored
            worst = 0;
            for (std::size_t i = 0; i < expect.size(); ++i)
                worst = std::max(worst, std::fabs(w.grad().flat(i) - 2 * expect.flat(i)) / (1 + std::fabs(expect.flat(i))));
            CHECK(worst < (d == dtype::float32 ? 1e-5 : 1e-13));
        }
    }
}
