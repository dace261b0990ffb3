// The tape, vars, parameters, guards and the errors a user can trigger.
#include <doctest/doctest.h>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;

using xgrad::testing::contains;
using xgrad::testing::message_of;

TEST_CASE("the README example: gradients of a small graph") {
    tape t;
    auto x = input(tensor(xt::xarray<double>{{0.5, -1.0, 2.0}}));
    parameter W(randn({3, 4}, 7, dtype::float64), "W");
    auto y = tanh(matmul(x, W));
    auto loss = mean(y * y);
    t.backward(loss);
    REQUIRE(W.grad().defined());
    CHECK(W.grad().shape() == shape_t{3, 4});
    // dL/dW[i][j] = x_i * 2 y_j (1 - y_j²) / 4
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 4; ++j) {
            const double yj = y.value().flat(j);
            CHECK(W.grad().flat(i * 4 + j) ==
                  doctest::Approx(x.value().flat(i) * 2 * yj * (1 - yj * yj) / 4).epsilon(1e-12));
        }
}

TEST_CASE("a parameter used many times is one node, and its gradient is the sum over uses") {
    tape t;
    parameter w(tensor(xt::xarray<double>{2.0}), "w");
    auto x = input(tensor(xt::xarray<double>{3.0}));
    var h = x;
    for (int k = 0; k < 5; ++k) h = h * w;  // h = x w^5
    t.backward(sum(h));
    std::size_t leaves = 0;
    for (std::size_t i = 0; i < t.size(); ++i) leaves += t.at(i).kind == node_kind::parameter;
    CHECK(leaves == 1);
    CHECK(w.grad().item() == doctest::Approx(5 * 3.0 * 16.0));  // d(x w^5)/dw = 5 x w^4
}

TEST_CASE("parameter gradients accumulate across backward calls until zero_grad") {
    parameter w(tensor(xt::xarray<double>{1.0, 2.0}), "w");
    for (int k = 0; k < 2; ++k) {
        tape t;
        t.backward(sum(w * 3.0));
    }
    CHECK(w.grad().flat(0) == 6.0);
    w.zero_grad();
    CHECK(w.grad().flat(1) == 0.0);
}

TEST_CASE("frozen parameters, detach and no_grad stop gradients") {
    tape t;
    parameter a(tensor(xt::xarray<double>{1.0}), "a");
    parameter b(tensor(xt::xarray<double>{2.0}), "b", /*requires_grad=*/false);
    auto y = a * b;
    t.backward(sum(y));
    CHECK(a.grad().item() == 2.0);
    CHECK_FALSE(b.grad().defined());

    auto d = (a * 3.0).detach();
    CHECK_FALSE(d.requires_grad());
    CHECK(d.value().item() == 3.0);
    {
        no_grad guard;
        auto z = a * 2.0;
        CHECK_FALSE(z.requires_grad());
        CHECK(z.value().item() == 2.0);
    }
    CHECK(grad_enabled());
}

TEST_CASE("scopes are recorded on nodes and nest") {
    tape t;
    auto x = input(tensor(xt::xarray<float>{1.f}));
    var y;
    {
        scope layer("rnn");
        scope step("t=3");
        y = tanh(x);
    }
    auto z = y + 1.0;
    CHECK(t.scope_path(t.at(y.index()).scope) == "rnn/t=3");
    CHECK(t.scope_path(t.at(z.index()).scope) == "");
    CHECK(t.at(y.index()).op_name == std::string("tanh"));
}

TEST_CASE("backward is a loop: a 10,000-node chain works") {
    tape t;
    auto x = input(tensor(xt::xarray<double>{0.5}), {.requires_grad = true});
    var h = x;
    for (int k = 0; k < 10000; ++k) h = h * 1.0001;
    t.backward(sum(h));
    CHECK(x.grad().item() == doctest::Approx(std::pow(1.0001, 10000)).epsilon(1e-9));
}

TEST_CASE("clear() keeps node memory and starts a new generation") {
    tape t;
    parameter w(randn({4, 4}, 1), "w");
    const auto g0 = t.generation();
    std::vector<const float*> buffers;
    for (int step = 0; step < 3; ++step) {
        t.clear();
        auto x = input(randn({2, 4}, 2));
        auto y = matmul(x, w);
        t.backward(sum(y));
        buffers.push_back(y.value().data<float>());
    }
    CHECK(t.generation() == g0 + 3);
    CHECK(t.size() == 4);  // input, parameter, matmul, sum: slots reused, not appended
    CHECK(buffers[0] == buffers[1]);  // the matmul output buffer is the same memory every step
    CHECK(buffers[1] == buffers[2]);
}

TEST_CASE("errors: stale vars") {
    tape t;
    auto x = input(tensor(xt::xarray<float>{1.f}));
    t.clear();
    auto msg = message_of<stale_variable_error>([&] { (void)x.value(); });
    CHECK(contains(msg, "cleared"));
    auto msg2 = message_of<stale_variable_error>([&] { (void)tanh(x); });
    CHECK(contains(msg2, "xgrad::tanh"));
    // backward on a cleared tape's var
    auto msg3 = message_of<stale_variable_error>([&] { t.backward(x); });
    CHECK(contains(msg3, "stale"));

    var y;
    {
        tape inner;
        y = input(tensor(xt::xarray<float>{1.f}));
    }
    CHECK(contains(message_of<stale_variable_error>([&] { (void)y.value(); }), "destroyed"));
    CHECK(y.is_stale());
}

TEST_CASE("errors: backward needs a scalar or a seed") {
    tape t;
    auto x = input(randn({2, 3}, 1), {.requires_grad = true});
    auto y = tanh(x);
    auto msg = message_of<backward_error>([&] { t.backward(y); });
    CHECK(contains(msg, "[2, 3]"));
    CHECK(contains(msg, "seed"));
    CHECK(contains(message_of<backward_error>([&] { t.backward(y, tensor::ones({3, 2})); }), "[3, 2]"));
    t.backward(y, tensor::ones({2, 3}));
    CHECK(x.grad().defined());
    auto c = input(randn({1}, 1));
    CHECK(contains(message_of<backward_error>([&] { t.backward(tanh(c)); }), "does not require a gradient"));
}

TEST_CASE("errors: shape mismatches name the op, both shapes and the time step") {
    tape t;
    auto a = input(randn({3, 4}, 1));
    auto b = input(randn({5}, 1));
    auto msg = message_of<shape_error>([&] {
        scope s("rnn");
        scope step("t=2");
        (void)add(a, b);
    });
    CHECK(contains(msg, "xgrad::add"));
    CHECK(contains(msg, "[3, 4]"));
    CHECK(contains(msg, "[5]"));
    CHECK(contains(msg, "rnn/t=2"));

    auto m = message_of<shape_error>([&] { (void)matmul(a, input(randn({5, 2}, 1))); });
    CHECK(contains(m, "xgrad::matmul"));
    CHECK(contains(m, "[3, 4]"));
    CHECK(contains(m, "[5, 2]"));
    CHECK(contains(message_of<shape_error>([&] { (void)linear(a, input(randn({2, 3}, 1))); }), "xgrad::linear"));
    // a bias that is neither [out] nor the output's shape [3, 2]: both accepted forms are named
    const auto bias_msg = message_of<shape_error>(
        [&] { (void)linear(a, input(randn({2, 4}, 1)), input(randn({2, 2}, 1))); });
    CHECK(contains(bias_msg, "bias [2, 2]"));
    CHECK(contains(bias_msg, "expected bias [2] or [3, 2]"));
    // linear_at: a sequence [batch, T, out] whose batch or width does not match, a step past its end
    const auto step_msg = message_of<shape_error>([&] {
        scope st("t=1");
        (void)linear_at(a, input(randn({2, 4}, 1)), input(randn({3, 5, 7}, 1)), 1);
    });
    CHECK(contains(step_msg, "xgrad::linear_at"));
    CHECK(contains(step_msg, "[3, 4]"));
    CHECK(contains(step_msg, "[3, 5, 7]"));
    CHECK(contains(step_msg, "t=1"));
    CHECK(contains(message_of<argument_error>(
                       [&] { (void)linear_at(a, input(randn({2, 4}, 1)), input(randn({3, 5, 2}, 1)), 5); }),
                   "step 5 is out of range for a sequence of 5 steps"));
    // gru_cell_at: a sequence whose width does not match the hidden gates, a step past its end
    const auto gru_msg = message_of<shape_error>([&] {
        scope st("t=3");
        (void)gru_cell_at(input(randn({3, 5, 9}, 1)), input(randn({3, 6}, 1)), input(randn({3, 2}, 1)), 3);
    });
    CHECK(contains(gru_msg, "xgrad::gru_cell_at"));
    CHECK(contains(gru_msg, "[3, 5, 9]"));
    CHECK(contains(gru_msg, "[3, 6]"));
    CHECK(contains(gru_msg, "t=3"));
    CHECK(contains(message_of<argument_error>([&] {
                       (void)gru_cell_at(input(randn({3, 5, 6}, 1)), input(randn({3, 6}, 1)), input(randn({3, 2}, 1)), 5);
                   }),
                   "step 5 is out of range for a sequence of 5 steps"));
    CHECK(contains(message_of<shape_error>([&] { (void)mse(input(randn({4}, 1)), input(randn({4, 1}, 1))); }),
                   "[4, 1]"));
    CHECK(contains(message_of<shape_error>([&] { (void)reshape(a, {5, 5}); }), "[3, 4]"));
    CHECK(contains(message_of<shape_error>([&] { (void)concat({a, b}, 0); }), "xgrad::concat"));
    CHECK(contains(message_of<argument_error>([&] { (void)select(a, 1, 9); }), "xgrad::select"));
    CHECK(contains(message_of<argument_error>([&] { (void)sum(a, 2); }), "axis 2"));
    CHECK(contains(message_of<argument_error>([&] { (void)cross_entropy(a, input(tensor(xt::xarray<float>{0, 1, 7}))); }),
                   "class 7"));
}

TEST_CASE("errors: mixed dtypes are refused, never promoted") {
    tape t;
    auto a = input(randn({2}, 1, dtype::float32));
    auto b = input(randn({2}, 1, dtype::float64));
    auto msg = message_of<dtype_error>([&] { (void)(a * b); });
    CHECK(contains(msg, "xgrad::mul"));
    CHECK(contains(msg, "float64"));
    CHECK(contains(msg, "float32"));
}

TEST_CASE("errors: no active tape") {
    CHECK(contains(message_of<error>([] { (void)input(tensor::zeros({1})); }), "no active tape"));
}

TEST_CASE("anomaly mode names the op, node and scope of a NaN") {
    tape t;
    detect_anomaly on;
    auto x = input(tensor(xt::xarray<double>{-1.0, 4.0}), {.requires_grad = true});
    auto msg = message_of<anomaly_error>([&] {
        scope s("t=4");
        (void)sqrt(x);
    });
    CHECK(contains(msg, "sqrt"));
    CHECK(contains(msg, "t=4"));
    CHECK(contains(msg, "[2]"));

    // backward anomaly: d sqrt(x)/dx at x = 0 is infinite
    tape t2;
    auto z = input(tensor(xt::xarray<double>{0.0}), {.requires_grad = true});
    auto y = sqrt(z);
    auto bmsg = message_of<anomaly_error>([&] { t2.backward(sum(y)); });
    CHECK(contains(bmsg, "backward rule of 'sqrt'"));
}

TEST_CASE("a wrong backward rule is caught by the engine's shape check") {
    tape t;
    auto x = input(randn({2, 3}, 1, dtype::float64), {.requires_grad = true});
    auto r = record_op(60001, "bad_rule", {x});
    r.out({2, 3}, dtype::float64).fill(1.0);
    auto y = r.finish([](backward_ctx& c) { c.grad_in(0).for_add().reshape_storage({6}, dtype::float64); });
    auto msg = message_of<shape_error>([&] { t.backward(sum(y)); });
    CHECK(contains(msg, "bad_rule"));
    CHECK(contains(msg, "input 0"));
    CHECK(contains(msg, "[6]"));
    CHECK(contains(msg, "[2, 3]"));
}

TEST_CASE("float32 and float64 both work, and a float32 graph matches float64") {
    for (dtype d : {dtype::float32, dtype::float64}) {
        tape t;
        parameter w(randn({3, 2}, 11, d), "w");
        auto x = input(randn({4, 3}, 12, d));
        auto loss = mean(square(sigmoid(linear(x, input(randn({2, 3}, 13, d))) + matmul(x, w))));
        t.backward(loss);
        CHECK(loss.dtype() == d);
        CHECK(w.grad().dtype() == d);
        CHECK(all_finite(w.grad()));
    }
}

TEST_CASE("seeded random numbers are reproducible") {
    CHECK(max_abs_diff(randn({5, 5}, 42), randn({5, 5}, 42)) == 0.0);
    CHECK(max_abs_diff(randn({5, 5}, 42), randn({5, 5}, 43)) > 0.0);
    rng g(1);
    double m = 0;
    for (int i = 0; i < 20000; ++i) m += g.normal();
    CHECK(std::abs(m / 20000) < 0.03);
}

TEST_CASE("full() makes a constant of one value that needs no gradient, and reuses its buffer") {
    tape t;
    var z = full({2, 3}, 0.5, dtype::float64);
    CHECK(z.shape() == shape_t{2, 3});
    CHECK(z.dtype() == dtype::float64);
    CHECK(!z.requires_grad());
    for (std::size_t i = 0; i < 6; ++i) CHECK(z.value().flat(i) == 0.5);
    const void* buffer = z.value().data<double>();
    t.clear();
    var again = full({3, 2}, -1.0, dtype::float64);  // same slot, same element count: same buffer
    CHECK(again.value().data<double>() == buffer);
    CHECK(again.value().flat(5) == -1.0);
}
