// BPTT by hand versus the tape. The tape records an ordinary loop over time; the gradient
// formulas below are the textbook ones, written out for a 5-step tanh RNN:
//   h_t = tanh(x_t W_xh + h_{t-1} W_hh + b),  L = Σ_t ½ |h_t - y_t|²
//   δ_t = (∂L/∂h_t + δ_{t+1} W_hhᵀ ⊙ ... ) -- precisely: g_t = (h_t - y_t) + a_{t+1} W_hhᵀ,
//   a_t = g_t ⊙ (1 - h_t²),  ∂L/∂W_xh = Σ_t x_tᵀ a_t,  ∂L/∂W_hh = Σ_t h_{t-1}ᵀ a_t,  ∂L/∂b = Σ_t a_t.
#include <doctest/doctest.h>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xview.hpp>

#include <xgrad/xgrad.hpp>

using namespace xgrad;
using arr = xt::xarray<double>;

namespace {
arr mm(const arr& a, const arr& b) {  // plain triple loop, independent of BLAS
    arr c = xt::zeros<double>({a.shape()[0], b.shape()[1]});
    for (std::size_t i = 0; i < a.shape()[0]; ++i)
        for (std::size_t j = 0; j < b.shape()[1]; ++j)
            for (std::size_t k = 0; k < a.shape()[1]; ++k) c(i, j) += a(i, k) * b(k, j);
    return c;
}
arr tr(const arr& a) { return xt::transpose(a); }
}  // namespace

TEST_CASE("the tape's gradients equal hand-written BPTT for a 5-step tanh RNN") {
    const std::size_t T = 5, B = 3, I = 2, H = 4;
    rng gen(2024);
    const arr W_xh = randn({I, H}, gen, dtype::float64).array<double>();
    const arr W_hh = (randn({H, H}, gen, dtype::float64).array<double>()) * 0.5;
    const arr bias = randn({H}, gen, dtype::float64).array<double>();
    std::vector<arr> xs, ys;
    for (std::size_t t = 0; t < T; ++t) {
        xs.push_back(randn({B, I}, gen, dtype::float64).array<double>());
        ys.push_back(randn({B, H}, gen, dtype::float64).array<double>());
    }

    // By hand: forward, then the backward recursion through time.
    std::vector<arr> h(T + 1, arr(xt::zeros<double>({B, H})));
    for (std::size_t t = 0; t < T; ++t) {
        arr pre = mm(xs[t], W_xh) + mm(h[t], W_hh);
        for (std::size_t i = 0; i < B; ++i)
            for (std::size_t j = 0; j < H; ++j) pre(i, j) += bias(j);
        h[t + 1] = xt::tanh(pre);
    }
    arr dW_xh = xt::zeros<double>({I, H}), dW_hh = xt::zeros<double>({H, H}), db = xt::zeros<double>({H});
    arr carry = xt::zeros<double>({B, H});  // a_{t+1} W_hhᵀ
    for (std::size_t t = T; t-- > 0;) {
        arr g = (h[t + 1] - ys[t]) + carry;
        arr a = g * (1.0 - h[t + 1] * h[t + 1]);  // δ_t
        dW_xh += mm(tr(xs[t]), a);
        dW_hh += mm(tr(h[t]), a);
        for (std::size_t i = 0; i < B; ++i)
            for (std::size_t j = 0; j < H; ++j) db(j) += a(i, j);
        carry = mm(a, tr(W_hh));
    }

    // The tape: an ordinary loop over time, no BPTT anywhere.
    tape t;
    parameter Wx(tensor(W_xh), "W_xh"), Wh(tensor(W_hh), "W_hh"), b(tensor(bias), "b");
    var hv = input(tensor(arr(xt::zeros<double>({B, H}))));
    var loss;
    for (std::size_t k = 0; k < T; ++k) {
        scope step("t=" + std::to_string(k));
        hv = tanh(matmul(input(tensor(xs[k])), Wx) + matmul(hv, Wh) + b);
        var term = 0.5 * sum(square(hv - input(tensor(ys[k]))));
        loss = k == 0 ? term : loss + term;
    }
    t.backward(loss);

    CHECK(max_abs_diff(Wx.grad(), tensor(dW_xh)) < 1e-10);
    CHECK(max_abs_diff(Wh.grad(), tensor(dW_hh)) < 1e-10);
    CHECK(max_abs_diff(b.grad(), tensor(db)) < 1e-10);
    // and the gradients are not trivially small: the comparison means something
    CHECK(xt::amax(xt::abs(dW_hh))() > 1e-2);
}
