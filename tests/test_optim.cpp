// Optimizers: one or two steps on a known quadratic against the closed-form update, for each
// optimizer and option; skipping frozen parameters; state and its round trip; clipping; truncated BPTT.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

namespace {

// L(w) = ½ Σ a_i (w_i − c_i)²   dL/dw = a ⊙ (w − c)
const std::vector<double> A{1.0, 2.0, 0.5, 3.0}, C{0.5, -1.0, 2.0, 0.0}, W0{1.0, -2.0, 0.25, 1.5};

parameter make_w(dtype d = dtype::float64) {
    tensor t = tensor::zeros({4}, d);
    for (std::size_t i = 0; i < 4; ++i) t.set_flat(i, W0[i]);
    return parameter(t, "w");
}

void backward_quadratic(parameter& w) {
    tape t;
    tensor a = tensor::zeros({4}, w.dtype()), c = tensor::zeros({4}, w.dtype());
    for (std::size_t i = 0; i < 4; ++i) {
        a.set_flat(i, A[i]);
        c.set_flat(i, C[i]);
    }
    t.backward(0.5 * sum(constant(a) * square(var(w) - constant(c))));
}

std::vector<double> grad_at(const std::vector<double>& w) {
    std::vector<double> g(4);
    for (std::size_t i = 0; i < 4; ++i) g[i] = A[i] * (w[i] - C[i]);
    return g;
}

// Run `steps` steps of opt on w; returns w's values.
std::vector<double> run(nn::optimizer& opt, parameter& w, int steps) {
    for (int k = 0; k < steps; ++k) {
        opt.zero_grad();
        backward_quadratic(w);
        opt.step();
    }
    std::vector<double> out(4);
    for (std::size_t i = 0; i < 4; ++i) out[i] = w.value().flat(i);
    return out;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-14) {
    for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(tol));
}

// The closed-form Adam step (PyTorch or Keras placement of ε) on moments after t updates.
double adam_delta(double m, double v, int t, const nn::adam_options& o) {
    const double bc1 = 1 - std::pow(o.beta1, t), bc2 = 1 - std::pow(o.beta2, t);
    if (o.keras_epsilon) return o.lr * std::sqrt(bc2) / bc1 * m / (std::sqrt(v) + o.eps);
    return o.lr / bc1 * m / (std::sqrt(v) / std::sqrt(bc2) + o.eps);
}

}  // namespace

TEST_CASE("sgd: plain, weight decay, momentum with dampening, nesterov equal the closed form") {
    const double lr = 0.1, wd = 0.05, mu = 0.9;
    SUBCASE("plain") {
        auto w = make_w();
        nn::sgd opt({w}, {.lr = lr});
        const auto g = grad_at(W0);
        std::vector<double> want(4);
        for (std::size_t i = 0; i < 4; ++i) want[i] = W0[i] - lr * g[i];
        check_close(run(opt, w, 1), want);
    }
    SUBCASE("weight decay") {
        auto w = make_w();
        nn::sgd opt({w}, {.lr = lr, .weight_decay = wd});
        const auto g = grad_at(W0);
        std::vector<double> want(4);
        for (std::size_t i = 0; i < 4; ++i) want[i] = W0[i] - lr * (g[i] + wd * W0[i]);
        check_close(run(opt, w, 1), want);
    }
    SUBCASE("momentum with dampening, two steps: b1 = g0, b2 = mu b1 + (1 - d) g1") {
        const double damp = 0.3;
        auto w = make_w();
        nn::sgd opt({w}, {.lr = lr, .momentum = mu, .dampening = damp});
        const auto g0 = grad_at(W0);
        std::vector<double> w1(4), w2(4);
        for (std::size_t i = 0; i < 4; ++i) w1[i] = W0[i] - lr * g0[i];
        const auto g1 = grad_at(w1);
        for (std::size_t i = 0; i < 4; ++i) w2[i] = w1[i] - lr * (mu * g0[i] + (1 - damp) * g1[i]);
        check_close(run(opt, w, 2), w2);
    }
    SUBCASE("nesterov, two steps: w -= lr (g + mu b)") {
        auto w = make_w();
        nn::sgd opt({w}, {.lr = lr, .momentum = mu, .nesterov = true});
        const auto g0 = grad_at(W0);
        std::vector<double> w1(4), w2(4), b1(4);
        for (std::size_t i = 0; i < 4; ++i) {
            b1[i] = g0[i];
            w1[i] = W0[i] - lr * (g0[i] + mu * b1[i]);
        }
        const auto g1 = grad_at(w1);
        for (std::size_t i = 0; i < 4; ++i) w2[i] = w1[i] - lr * (g1[i] + mu * (mu * b1[i] + g1[i]));
        check_close(run(opt, w, 2), w2);
    }
}

TEST_CASE("adam and adamw equal the closed form, with bias correction over two steps") {
    SUBCASE("adam, PyTorch epsilon, L2 weight decay in the gradient") {
        nn::adam_options o{.lr = 0.01, .weight_decay = 0.1};
        auto w = make_w();
        nn::adam opt({w}, o);
        std::vector<double> m(4, 0), v(4, 0), cur = W0;
        for (int t = 1; t <= 2; ++t) {
            const auto g = grad_at(cur);
            for (std::size_t i = 0; i < 4; ++i) {
                const double gi = g[i] + o.weight_decay * cur[i];
                m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
                v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
                cur[i] -= adam_delta(m[i], v[i], t, o);
            }
        }
        check_close(run(opt, w, 2), cur);
    }
    SUBCASE("adam, Keras epsilon (not bias-corrected)") {
        auto o = nn::adam_options::keras();
        o.eps = 0.05;  // large enough that its placement matters
        auto w = make_w();
        nn::adam opt({w}, o);
        std::vector<double> m(4, 0), v(4, 0), cur = W0;
        for (int t = 1; t <= 2; ++t) {
            const auto g = grad_at(cur);
            for (std::size_t i = 0; i < 4; ++i) {
                m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
                v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
                cur[i] -= adam_delta(m[i], v[i], t, o);
            }
        }
        check_close(run(opt, w, 2), cur);
        // With ε = 0.05 the PyTorch placement gives another result.
        nn::adam_options p = o;
        p.keras_epsilon = false;
        CHECK(adam_delta(0.1, 0.01, 1, p) != doctest::Approx(adam_delta(0.1, 0.01, 1, o)));
    }
    SUBCASE("adamw: decoupled decay w(1 - lr wd) before the Adam step, gradient without decay") {
        nn::adamw_options o{.lr = 0.01, .weight_decay = 0.5};
        auto w = make_w();
        nn::adamw opt({w}, o);
        CHECK(opt.name() == "adamw");
        nn::adam_options ao{.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps};
        std::vector<double> m(4, 0), v(4, 0), cur = W0;
        for (int t = 1; t <= 2; ++t) {
            const auto g = grad_at(cur);
            for (std::size_t i = 0; i < 4; ++i) {
                m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
                v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
                cur[i] = cur[i] * (1 - o.lr * o.weight_decay) - adam_delta(m[i], v[i], t, ao);
            }
        }
        check_close(run(opt, w, 2), cur);
    }
}

TEST_CASE("rmsprop: plain, centered with momentum, Keras epsilon equal the closed form") {
    SUBCASE("plain, two steps") {
        nn::rmsprop_options o{.lr = 0.01};
        auto w = make_w();
        nn::rmsprop opt({w}, o);
        std::vector<double> s(4, 0), cur = W0;
        for (int t = 0; t < 2; ++t) {
            const auto g = grad_at(cur);
            for (std::size_t i = 0; i < 4; ++i) {
                s[i] = o.alpha * s[i] + (1 - o.alpha) * g[i] * g[i];
                cur[i] -= o.lr * g[i] / (std::sqrt(s[i]) + o.eps);
            }
        }
        check_close(run(opt, w, 2), cur);
    }
    SUBCASE("centered, momentum, weight decay, two steps") {
        nn::rmsprop_options o{.lr = 0.01, .alpha = 0.9, .momentum = 0.5, .centered = true, .weight_decay = 0.1};
        auto w = make_w();
        nn::rmsprop opt({w}, o);
        std::vector<double> s(4, 0), a(4, 0), b(4, 0), cur = W0;
        for (int t = 0; t < 2; ++t) {
            const auto g = grad_at(cur);
            for (std::size_t i = 0; i < 4; ++i) {
                const double gi = g[i] + o.weight_decay * cur[i];
                s[i] = o.alpha * s[i] + (1 - o.alpha) * gi * gi;
                a[i] = o.alpha * a[i] + (1 - o.alpha) * gi;
                b[i] = o.momentum * b[i] + gi / (std::sqrt(s[i] - a[i] * a[i]) + o.eps);
                cur[i] -= o.lr * b[i];
            }
        }
        check_close(run(opt, w, 2), cur);
    }
    SUBCASE("Keras: epsilon inside the square root") {
        auto o = nn::rmsprop_options::keras();
        o.eps = 0.5;
        auto w = make_w();
        nn::rmsprop opt({w}, o);
        const auto g = grad_at(W0);
        std::vector<double> want(4);
        for (std::size_t i = 0; i < 4; ++i) want[i] = W0[i] - o.lr * g[i] / std::sqrt((1 - o.alpha) * g[i] * g[i] + o.eps);
        check_close(run(opt, w, 1), want);
    }
}

TEST_CASE("default hyper-parameters: PyTorch in the options structs, Keras from keras()") {
    CHECK(nn::sgd_options{}.lr == 1e-3);
    CHECK(nn::sgd_options::keras().lr == 0.01);
    CHECK(nn::adam_options{}.eps == 1e-8);
    CHECK(nn::adam_options{}.lr == 1e-3);
    CHECK(nn::adam_options::keras().eps == 1e-7);
    CHECK(nn::adam_options::keras().keras_epsilon);
    CHECK(nn::adamw_options{}.weight_decay == 1e-2);
    CHECK(nn::adamw_options::keras().weight_decay == 4e-3);
    CHECK(nn::rmsprop_options{}.lr == 1e-2);
    CHECK(nn::rmsprop_options{}.alpha == 0.99);
    CHECK(nn::rmsprop_options::keras().alpha == 0.9);
    CHECK(nn::rmsprop_options::keras().lr == 1e-3);
}

TEST_CASE("float32 steps match the float64 closed form to float precision") {
    auto w = make_w(dtype::float32);
    nn::adam opt({w}, {.lr = 0.01});
    const auto g = grad_at(W0);
    std::vector<double> want(4);
    for (std::size_t i = 0; i < 4; ++i) want[i] = W0[i] - adam_delta((1 - 0.9) * g[i], (1 - 0.999) * g[i] * g[i], 1, {.lr = 0.01});
    check_close(run(opt, w, 1), want, 1e-6);
}

namespace {
// TensorFlow's ApplyAdam (what tf.keras 2's Adam runs) in float32, operation for operation, on gradients g_t.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
std::vector<float> keras_adam_float32(const std::vector<std::vector<float>>& grads, std::vector<float> w) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;  // Keras's defaults, as float32
    std::vector<float> m(w.size(), 0.0f), v(w.size(), 0.0f);
    for (std::size_t k = 0; k < grads.size(); ++k) {
        const float t = float(k + 1);
        const float alpha = lr * std::sqrt(1.0f - std::pow(b2, t)) / (1.0f - std::pow(b1, t));
        for (std::size_t i = 0; i < w.size(); ++i) {
            const float g = grads[k][i];
            m[i] += (g - m[i]) * (1.0f - b1);
            v[i] += (g * g - v[i]) * (1.0f - b2);
            w[i] -= (m[i] * alpha) / (std::sqrt(v[i]) + eps);
        }
    }
    return w;
}
}  // namespace

TEST_CASE("adam keras(): float32 steps equal TensorFlow ApplyAdam float32 arithmetic bit for bit") {
    // L = Σ w ⊙ g_t has gradient g_t exactly, so the optimizer sees the gradients the hand loop uses.
    const std::vector<std::vector<float>> grads{
        {0.3f, -1.7f, 2e-3f, 5.0f}, {0.25f, -1.5f, -4e-3f, 4.5f}, {-0.1f, -1.2f, 1e-3f, 3.0f}, {0.2f, 0.9f, 6e-3f, -2.0f}};
    const std::vector<float> w0{0.0f, 1e-3f, -2e-3f, 0.5f};
    tensor init = tensor::zeros({4}, dtype::float32);
    for (std::size_t i = 0; i < 4; ++i) init.set_flat(i, w0[i]);
    parameter w(init, "w");
    nn::adam opt({w}, nn::adam_options::keras());
    for (std::size_t k = 0; k < grads.size(); ++k) {
        CAPTURE(k);
        tensor g = tensor::zeros({4}, dtype::float32);
        for (std::size_t i = 0; i < 4; ++i) g.set_flat(i, grads[k][i]);
        opt.zero_grad();
        {
            tape t;
            t.backward(sum(var(w) * constant(g)));
        }
        opt.step();
        const auto want = keras_adam_float32({grads.begin(), grads.begin() + long(k) + 1}, w0);
        for (std::size_t i = 0; i < 4; ++i) CHECK(w.value().flat(i) == double(want[i]));
    }
    // The first step with the bias corrections taken in double from β = 0.999, 0.9 (while the moments use
    // β rounded to float) is 6.7e-6 larger: hundreds of float32 ulps at w = 0, so the check above sees it.
    const float m1 = (0.3f - 0.0f) * (1.0f - 0.9f), v1 = (0.3f * 0.3f) * (1.0f - 0.999f);
    const double mixed = 1e-3 * std::sqrt(1 - 0.999) / (1 - 0.9) * m1 / (std::sqrt(double(v1)) + 1e-7);
    const double keras = -double(keras_adam_float32({grads[0]}, {0.0f, 0.0f, 0.0f, 0.0f})[0]);
    CHECK(mixed / keras - 1 == doctest::Approx(6.7e-6).epsilon(0.02));
}

TEST_CASE("step skips frozen parameters and parameters without a gradient, and buffers are reused") {
    parameter a(tensor::ones({3}, dtype::float64), "a"), b(tensor::ones({3}, dtype::float64), "b"),
        c(tensor::ones({3}, dtype::float64), "c");
    b.set_requires_grad(false);
    nn::adam opt({a, b, c}, {.lr = 0.1});
    {
        tape t;
        t.backward(sum(var(a) * var(b)));  // b is frozen; c unused: its gradient stays undefined
    }
    const double* before = a.value().data<double>();
    opt.step();
    CHECK(a.value().flat(0) != 1.0);
    CHECK(b.value().flat(0) == 1.0);
    CHECK(c.value().flat(0) == 1.0);
    CHECK(!c.grad().defined());
    // Only a has state.
    std::vector<std::string> names;
    for (auto& [n, t] : opt.state()) names.push_back(n);
    CHECK(names == std::vector<std::string>{"adam.step", "adam.count.a", "adam.m.a", "adam.v.a"});
    opt.step();
    CHECK(opt.steps() == 2);
    CHECK(a.value().data<double>() == before);  // updated in place
}

TEST_CASE("optimizer options and state are validated with messages") {
    parameter w(tensor::ones({2}, dtype::float64), "w");
    CHECK_THROWS_AS(nn::sgd({w}, {.lr = 0.1, .nesterov = true}), argument_error);
    CHECK_THROWS_AS(nn::adam({w}, {.beta1 = 1.0}), argument_error);
    CHECK_THROWS_AS(nn::rmsprop({w}, {.lr = -1}), argument_error);
    CHECK_THROWS_AS(nn::sgd({w, w}), argument_error);
    nn::adam opt({w});
    const nn::named_tensors bad{{"adam.step", tensor::scalar(3, dtype::float64)},
                                {"adam.m.w", tensor::zeros({3}, dtype::float64)},
                                {"adam.count.w", tensor::scalar(1, dtype::float64)},
                                {"adam.q.w", tensor::zeros({2}, dtype::float64)},
                                {"sgd.momentum.w", tensor::zeros({2}, dtype::float64)}};
    const auto problems = opt.check_state(bad);
    CHECK(problems.size() == 4);  // m wrong shape, unknown slot q, foreign prefix, v missing
    try {
        opt.load_state(bad);
        FAIL("expected argument_error");
    } catch (const argument_error& e) {
        const std::string msg = e.what();
        CHECK(msg.find("adam.m.w: expected [2] float64, got [3] float64") != std::string::npos);
        CHECK(msg.find("adam.v.w") != std::string::npos);
        CHECK(msg.find("sgd.momentum.w") != std::string::npos);
    }
}

TEST_CASE("state() and load_state() continue training bit for bit") {
    auto a = make_w(dtype::float32);
    auto b = make_w(dtype::float32);
    nn::rmsprop_options o{.lr = 0.01, .momentum = 0.9, .centered = true};
    nn::rmsprop oa({a}, o), ob({b}, o);
    run(oa, a, 3);
    run(ob, b, 3);
    const auto saved = oa.state();
    const auto want = run(oa, a, 4);
    nn::rmsprop fresh({b}, o);
    fresh.load_state(saved);
    CHECK(fresh.steps() == 3);
    CHECK(run(fresh, b, 4) == want);
}

TEST_CASE("clip_grad_norm returns the norm before clipping and scales to max_norm") {
    parameter a(tensor(xt::xarray<double>{3.0, 0.0}), "a"), b(tensor(xt::xarray<double>{0.0, 4.0}), "b");
    a.grad() = tensor(xt::xarray<double>{3.0, 0.0});
    b.grad() = tensor(xt::xarray<double>{0.0, 4.0});
    CHECK(nn::clip_grad_norm({a, b}, 10.0) == doctest::Approx(5.0));  // below max: untouched
    CHECK(a.grad().flat(0) == 3.0);
    CHECK(nn::clip_grad_norm({a, b}, 1.0) == doctest::Approx(5.0));
    CHECK(nn::grad_norm({a, b}) == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(a.grad().flat(0) / b.grad().flat(1) == doctest::Approx(0.75));  // direction kept
    a.set_requires_grad(false);  // frozen parameters are left out
    CHECK(nn::grad_norm({a, b}) == doctest::Approx(0.8).epsilon(1e-6));
}

TEST_CASE("clip_grad_norm throws nonfinite_gradient_error naming the parameter, and clip_grad_value clamps") {
    parameter a(tensor::ones({2}, dtype::float32), "rnn.weight_hh_l0"), b(tensor::ones({2}, dtype::float32), "head.bias");
    a.grad() = tensor(xt::xarray<float>{1.0f, NAN});
    b.grad() = tensor(xt::xarray<float>{-7.0f, 0.5f});
    try {
        nn::clip_grad_norm({a, b}, 1.0);
        FAIL("expected nonfinite_gradient_error");
    } catch (const nn::nonfinite_gradient_error& e) {
        CHECK(std::string(e.what()).find("rnn.weight_hh_l0") != std::string::npos);
        CHECK(std::string(e.what()).find("head.bias") == std::string::npos);
    }
    a.grad() = tensor(xt::xarray<float>{1.0f, INFINITY});
    CHECK_THROWS_AS(nn::clip_grad_norm({a, b}, 1.0), nn::nonfinite_gradient_error);
    CHECK_THROWS_AS(nn::clip_grad_norm({b}, 0.0), argument_error);
    nn::clip_grad_value({b}, 2.0);
    CHECK(b.grad().flat(0) == -2.0);
    CHECK(b.grad().flat(1) == 0.5);
}

TEST_CASE("truncated BPTT: a detached state carries values, not gradients, across chunks") {
    // h_t = tanh(h_{t-1}·Wᵀ + x_t); chunk 1 = steps 0-2, chunk 2 = steps 3-5, loss = Σ h_5.
    parameter W(randn({2, 2}, 3, dtype::float64), "W");
    std::vector<tensor> xs;
    for (std::uint64_t k = 0; k < 6; ++k) xs.push_back(randn({1, 2}, 10 + k, dtype::float64));
    auto steps = [&](var h, std::size_t from) {
        for (std::size_t k = from; k < from + 3; ++k) h = tanh(linear(h, W) + input(xs[k]));
        return h;
    };
    auto grad_of = [&](const var& loss) {
        W.zero_grad();
        loss.backward();
        return W.grad();
    };
    tensor g_detached, g_alone, g_full, h3;
    {
        tape t;
        const var h = steps(input(tensor::zeros({1, 2}, dtype::float64)), 0);
        h3 = h.value();
        g_detached = grad_of(sum(steps(h.detach(), 3)));
    }
    {
        tape t;
        g_alone = grad_of(sum(steps(input(h3), 3)));
    }
    {
        tape t;
        g_full = grad_of(sum(steps(steps(input(tensor::zeros({1, 2}, dtype::float64)), 0), 3)));
    }
    CHECK(max_abs_diff(g_detached, g_alone) == 0.0);  // nothing flowed back into chunk 1
    CHECK(max_abs_diff(g_detached, g_full) > 1e-6);   // full BPTT differs
}
