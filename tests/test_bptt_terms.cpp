// The terms of BPTT read from the tape (graph/contributions.hpp, nn::step_terms): per time step,
// the part of a recurrent weight's gradient that step contributes. They must sum to the gradient,
// equal the textbook δ_t·h_{t-1}ᵀ, leave the tape as backward left it; and the textbook recording
// (recurrent_options::textbook) must give training's loss and gradients.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

namespace {

double largest_diff(const tensor& a, const tensor& b) {
    REQUIRE(a.size() == b.size());
    double m = 0;
    for (std::size_t k = 0; k < a.size(); ++k) m = std::max(m, std::abs(a.flat(k) - b.flat(k)));
    return m;
}

double max_abs(const tensor& a) {
    double m = 0;
    for (std::size_t k = 0; k < a.size(); ++k) m = std::max(m, std::abs(a.flat(k)));
    return m;
}

tensor sum_of(const std::vector<tensor>& terms) {
    tensor s = tensor::zeros(terms.at(0).shape(), terms.at(0).dtype());
    for (const auto& t : terms)
        for (std::size_t k = 0; k < s.size(); ++k) s.set_flat(k, s.flat(k) + t.flat(k));
    return s;
}

struct run_result {
    double loss = 0;
    std::vector<tensor> grads;  // every parameter's, in registration order
};

// loss = mean(square(layer(x))) on a fixed float64 batch; the layer made from o (seeded).
run_result run(const std::string& cell, nn::recurrent_options o, std::size_t batch, std::size_t steps) {
    o.dt = dtype::float64;
    auto layer = nn::make_recurrent(cell, o);
    tape t;
    var x = input(randn({batch, steps, o.input_size}, 11, dtype::float64), "x");
    var loss = mean(square(layer->forward(x, {})));
    loss.backward();
    run_result r{loss.item(), {}};
    for (const auto& p : layer->parameters()) r.grads.push_back(p.grad());
    return r;
}

}  // namespace

TEST_CASE("bptt terms: per-step terms of every recurrent weight sum to its gradient (rnn, lstm, gru)") {
    // hidden sizes on both sides of linear's deferred dW (W of 2^14 elements or more: summed at the leaf)
    struct c_t {
        const char* cell;
        std::size_t hidden;
        bool fused, textbook;
        std::size_t layers;
    };
    for (const c_t c : {c_t{"rnn", 5, true, false, 1}, c_t{"rnn", 128, true, false, 1}, c_t{"rnn", 5, true, true, 2},
                        c_t{"lstm", 4, true, false, 2}, c_t{"lstm", 64, true, false, 1}, c_t{"lstm", 4, false, true, 1},
                        c_t{"gru", 4, true, false, 1}, c_t{"gru", 74, true, false, 1}, c_t{"gru", 4, false, true, 2},
                        c_t{"gru", 4, true, true, 1}}) {
        CAPTURE(std::string(c.cell));
        CAPTURE(c.hidden);
        CAPTURE(c.fused);
        CAPTURE(c.textbook);
        CAPTURE(c.layers);
        const std::size_t T = 6;
        nn::recurrent_options o;
        o.input_size = 3;
        o.hidden_size = c.hidden;
        o.num_layers = c.layers;
        o.fused = c.fused;
        o.textbook = c.textbook;
        o.seed = 5;
        o.dt = dtype::float64;
        auto layer = nn::make_recurrent(c.cell, o);
        tape t;
        var x = input(randn({2, T, 3}, 7, dtype::float64), "x");
        var loss = mean(square(layer->forward(x, {})));
        loss.backward();
        std::vector<tensor> h_grads;
        for (const auto& h : layer->step_outputs()) h_grads.push_back(h.grad());
        for (std::size_t l = 0; l < c.layers; ++l) {
            const auto& lp = layer->layer(l);
            for (const parameter* w : {&lp.w_hh, &lp.w_ih, &lp.b_ih, &lp.b_hh}) {
                CAPTURE(w->name());
                if (!c.textbook && std::string(c.cell) != "gru" && (w == &lp.b_ih || w == &lp.b_hh)) {
                    // rnn and lstm training add b_ih + b_hh once for all steps: no step to give it to
                    CHECK_THROWS_AS(layer->step_terms(*w), argument_error);
                    continue;
                }
                const tensor before = w->grad();
                const auto terms = layer->step_terms(*w);
                REQUIRE(terms.size() == T);
                const double scale = std::max(1.0, max_abs(before));
                CHECK(largest_diff(sum_of(terms), w->grad()) <= 1e-12 * scale);
                CHECK(largest_diff(w->grad(), before) == 0.0);  // the gradient is as backward left it
                if (w == &lp.w_hh) CHECK(max_abs(terms[0]) == 0.0);  // h_{-1} = 0: δ_0·h_{-1}ᵀ = 0
                std::size_t nonzero = 0;
                for (const auto& term : terms) nonzero += max_abs(term) > 0;
                CHECK(nonzero >= (w == &lp.w_hh ? T - 1 : T));  // a term per step, not one lump
            }
        }
        for (std::size_t k = 0; k < T; ++k)  // the tape's own gradients untouched
            CHECK(largest_diff(layer->step_outputs()[k].grad(), h_grads[k]) == 0.0);
    }
}

TEST_CASE("bptt terms: each step's term of W_hh and W_ih is the textbook delta_t h_{t-1}^T and delta_t x_t^T") {
    // tanh rnn: pre_t = x_t·W_ihᵀ + h_{t-1}·W_hhᵀ + b, h_t = tanh(pre_t), δ_t = ∂L/∂pre_t = ∂L/∂h_t ⊙ (1 - h_t²)
    // (∂L/∂h_t, the total through every later step, read from the tape).
    const std::size_t B = 3, T = 5, I = 2, H = 4;
    for (bool textbook : {false, true}) {
        CAPTURE(textbook);
        nn::rnn layer({.input_size = I, .hidden_size = H, .seed = 3, .dt = dtype::float64, .textbook = textbook});
        tape t;
        const tensor xv = randn({B, T, I}, 9, dtype::float64);
        var loss = mean(square(layer(input(xv, "x"))));
        loss.backward();
        const auto hh = layer.step_terms(layer.layer(0).w_hh);
        const auto ih = layer.step_terms(layer.layer(0).w_ih);
        const auto& hs = layer.step_outputs();
        for (std::size_t s = 0; s < T; ++s) {
            CAPTURE(s);
            const tensor& h = hs[s].value();
            const tensor& g = hs[s].grad();
            tensor want_hh = tensor::zeros({H, H}, dtype::float64), want_ih = tensor::zeros({H, I}, dtype::float64);
            for (std::size_t b = 0; b < B; ++b)
                for (std::size_t i = 0; i < H; ++i) {
                    const double d = g.flat(b * H + i) * (1 - h.flat(b * H + i) * h.flat(b * H + i));
                    for (std::size_t j = 0; j < H && s > 0; ++j)
                        want_hh.set_flat(i * H + j, want_hh.flat(i * H + j) + d * hs[s - 1].value().flat(b * H + j));
                    for (std::size_t j = 0; j < I; ++j)
                        want_ih.set_flat(i * I + j, want_ih.flat(i * I + j) + d * xv.flat((b * T + s) * I + j));
                }
            CHECK(largest_diff(hh[s], want_hh) <= 1e-14);
            CHECK(largest_diff(ih[s], want_ih) <= 1e-14);
        }
    }
}

TEST_CASE("bptt terms: use_contributions sums a plain fan-out and refuses what it cannot answer") {
    parameter W(tensor(xt::xarray<double>{{0.5, -1.0}, {2.0, 0.25}}), "W");
    tape t;
    var x = input(tensor(xt::xarray<double>{{1.0, 2.0}}), "x");
    var a = matmul(x, W);         // term xᵀ·1
    var b = matmul(tanh(a), W);   // term tanh(a)ᵀ·1 (plus the path through a, which lands in a's use)
    var loss = sum(b);
    loss.backward();
    const auto uses = use_contributions(t, W);
    REQUIRE(uses.size() == 2);
    CHECK(largest_diff(sum_of({uses[0].term, uses[1].term}), W.grad()) <= 1e-15);
    CHECK(uses[1].term.flat(0) == doctest::Approx(std::tanh(a.value().flat(0))));
    parameter unused(tensor::zeros({2, 2}, dtype::float64), "unused");
    CHECK_THROWS_AS(use_contributions(t, unused), argument_error);
    CHECK_THROWS_AS(use_contribution_of(t, loss.index(), W), argument_error);  // sum does not read W
    nn::rnn layer({.input_size = 1, .hidden_size = 2, .dt = dtype::float64});
    CHECK_THROWS_AS(layer.step_terms(layer.layer(0).w_hh), argument_error);  // no forward yet
    CHECK_THROWS_AS(layer.step_terms(W), argument_error);                    // not the layer's
}

TEST_CASE("textbook recording: the same loss and gradients as training's, rnn lstm gru, float64") {
    for (const char* cell : {"rnn", "lstm", "gru"})
        for (bool fused : {true, false})
            for (std::size_t layers : {1u, 2u}) {
                CAPTURE(std::string(cell));
                CAPTURE(fused);
                CAPTURE(layers);
                nn::recurrent_options o;
                o.input_size = 3;
                o.hidden_size = 5;
                o.num_layers = layers;
                o.fused = fused;
                o.return_sequences = layers == 2;
                o.activation = "sigmoid";
                o.seed = 17;
                const auto train = run(cell, o, 2, 7);
                o.textbook = true;
                const auto book = run(cell, o, 2, 7);
                CHECK(std::abs(train.loss - book.loss) <= 1e-12 * std::max(1.0, std::abs(train.loss)));
                REQUIRE(train.grads.size() == book.grads.size());
                for (std::size_t k = 0; k < train.grads.size(); ++k) {
                    CAPTURE(k);
                    CHECK(largest_diff(train.grads[k], book.grads[k]) <= 1e-12);
                }
            }
}

TEST_CASE("textbook recording: x_t and W_ih are read inside every step") {
    nn::rnn layer({.input_size = 2, .hidden_size = 3, .dt = dtype::float64, .textbook = true});
    tape t;
    var loss = mean(square(layer(input(randn({1, 4, 2}, 1, dtype::float64), "x"))));
    loss.backward();
    const auto uses = use_contributions(t, layer.layer(0).w_ih);
    REQUIRE(uses.size() == 4);
    for (std::size_t k = 0; k < 4; ++k) CHECK(t.scope_path(t.at(uses[k].node).scope) == "rnn/t=" + std::to_string(k));
}

TEST_CASE("bptt terms: float32 with the deferred weight gradient, the terms still sum to the gradient") {
    // W_hh [128, 128] float32: linear's dW held back to the leaf (and xgrad's own kernel where the CPU has it)
    nn::rnn layer({.input_size = 2, .hidden_size = 128, .seed = 2});
    tape t;
    var loss = mean(square(layer(input(randn({4, 5, 2}, 3), "x"))));
    loss.backward();
    const auto& w = layer.layer(0).w_hh;
    const auto terms = layer.step_terms(w);
    const tensor s = sum_of(terms);
    CHECK(largest_diff(s, w.grad()) <= 1e-5 * std::max(1.0, max_abs(w.grad())));
    CHECK(max_abs(terms[4]) > 0);
    CHECK(max_abs(terms[0]) == 0.0);
}
