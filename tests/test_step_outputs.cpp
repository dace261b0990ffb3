// The recurrent layers' step outputs: the h_t of every step, whose grads after backward are the total
// ∂L/∂h_t (the vanishing-gradient curve of `xgrad study` and nn::step_grad_norms).
#include <doctest/doctest.h>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

TEST_CASE("recurrent: step_outputs() are the h_t, and their grads are the total dL/dh_t of a hand-unrolled rnn") {
    const std::size_t B = 3, T = 4, H = 5;
    nn::rnn layer({.input_size = 2, .hidden_size = H, .activation = "sigmoid", .seed = 3, .dt = dtype::float64});
    rng gen(11);
    const tensor xv = randn({B, T, 2}, gen, dtype::float64), target = randn({B, H}, gen, dtype::float64);

    tape t;
    var x = input(xv);
    var loss = mse(layer(x), constant(target));
    t.backward(loss);
    const auto& hs = layer.step_outputs();
    REQUIRE(hs.size() == T);
    std::vector<tensor> values, grads;  // deep copies: the next backward resets this pass's grads
    for (const auto& v : hs) {
        CHECK(v.shape() == shape_t{B, H});
        REQUIRE(v.grad().defined());
        values.push_back(v.value());
        grads.push_back(v.grad());
    }

    // The same network unrolled by hand: h_t = σ(x_t·W_ihᵀ + b_ih + h_{t-1}·W_hhᵀ + b_hh).
    const auto& p = layer.layer(0);
    std::vector<var> mine;
    var h = constant(tensor::zeros({B, H}, dtype::float64));
    for (std::size_t s = 0; s < T; ++s) {
        h = sigmoid(linear(select(x, 1, s), p.w_ih, p.b_ih) + linear(h, p.w_hh, p.b_hh));
        mine.push_back(h);
    }
    var loss2 = mse(h, constant(target));
    t.backward(loss2);
    CHECK(loss2.item() == doctest::Approx(loss.item()).epsilon(1e-12));
    for (std::size_t s = 0; s < T; ++s) {
        CAPTURE(s);
        REQUIRE(mine[s].grad().defined());
        CHECK(max_abs_diff(values[s], mine[s].value()) < 1e-12);
        CHECK(max_abs_diff(grads[s], mine[s].grad()) < 1e-12);
    }
    // Vanishing through a sigmoid: the gradient shrinks going back in time here (σ' <= 1/4).
    CHECK(l2_norm(grads[0]) < l2_norm(grads[T - 1]));
}

TEST_CASE("recurrent: with return_sequences the step outputs are the output's slices, for every cell") {
    const std::size_t B = 2, T = 3, H = 4;
    nn::recurrent_options ro{.input_size = 1, .hidden_size = H, .return_sequences = true, .seed = 5, .dt = dtype::float64};
    nn::rnn r(ro);
    nn::lstm l(ro);
    nn::gru g(ro);
    rng gen(2);
    const tensor xv = randn({B, T, 1}, gen, dtype::float64), w = randn({B, H}, gen, dtype::float64);
    for (int which = 0; which < 3; ++which) {
        CAPTURE(which);
        tape t;
        var x = input(xv);
        var y = which == 0 ? r(x) : which == 1 ? l(x) : g(x);
        const nn::recurrent_base& layer = which == 0 ? static_cast<nn::recurrent_base&>(r)
                                          : which == 1 ? static_cast<nn::recurrent_base&>(l)
                                                       : static_cast<nn::recurrent_base&>(g);
        // L = Σ w ⊙ y[:, T-1]: h_{T-1} has no later consumer, so ∂L/∂h_{T-1} = w exactly.
        var loss = sum(select(y, 1, T - 1) * constant(w));
        t.backward(loss);
        const auto& hs = layer.step_outputs();
        REQUIRE(hs.size() == T);
        for (std::size_t s = 0; s < T; ++s) {
            CHECK(max_abs_diff(hs[s].value(), select(y, 1, s).value()) == 0);
            REQUIRE(hs[s].grad().defined());
        }
        CHECK(max_abs_diff(hs[T - 1].grad(), w) < 1e-14);
        CHECK(l2_norm(hs[0].grad()) > 0);
    }
}
