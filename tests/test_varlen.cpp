// Variable-length batches: a padded batch [batch, T, F] with per-row lengths.
// - PyTorch parity: pack_padded_sequence(enforce_sorted=False) -> rnn/lstm/gru (one direction or
//   bidirectional) -> pad_packed_sequence,
//   float64, every output, final state and gradient within 1e-12 (tests/fixtures/make_pytorch_packed.py
//   wrote tests/data/pytorch/packed_*.npy once; this test needs no PyTorch).
// - a padded batch equals each sequence run alone; padding values change nothing, bit for bit.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include <xtensor/xnpy.hpp>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;
namespace nn = xgrad::nn;
using xgrad::testing::contains;
using xgrad::testing::message_of;

namespace {
tensor load(const std::string& model, const std::string& name) {
    const std::string path = std::string(XGRAD_TEST_DATA) + "/pytorch/packed_" + model + "." + name + ".npy";
    return tensor(xt::xarray<double>(xt::load_npy<double>(path)));
}

std::vector<std::size_t> as_lengths(const tensor& t) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < t.size(); ++i) out.push_back(static_cast<std::size_t>(t.flat(i)));
    return out;
}

std::unique_ptr<nn::recurrent_base> make(const std::string& cell, dtype d, std::size_t layers = 2, bool fused = true,
                                         bool textbook = false, std::uint64_t seed = 3, bool bidirectional = false) {
    nn::recurrent_options o;
    o.input_size = 3;
    o.hidden_size = 4;
    o.num_layers = layers;
    o.return_sequences = true;
    o.dt = d;
    o.fused = fused;
    o.textbook = textbook;
    o.seed = seed;
    o.bidirectional = bidirectional;
    o.init = nn::init_style::pytorch;  // non-zero biases
    return nn::make_recurrent(cell, o);
}

// Σ y ⊙ R + Σ_l h_l ⊙ R2[l] (+ Σ_l c_l ⊙ R3[l]): every output and final state enters the loss.
var packed_loss(nn::recurrent_base& m, const var& y, const tensor& r, const tensor& r2, const tensor& r3) {
    var loss = sum(y * input(r));
    const auto st = m.final_state();
    for (std::size_t l = 0; l < st.h.size(); ++l) loss = loss + sum(st.h[l] * select(input(r2), 0, l));
    for (std::size_t l = 0; l < st.c.size(); ++l) loss = loss + sum(st.c[l] * select(input(r3), 0, l));
    return loss;
}

bool same_bits(const tensor& a, const tensor& b) {
    if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
    const std::size_t bytes = a.size() * (a.dtype() == dtype::float64 ? 8 : 4);
    return a.visit([&](const auto& x) { return std::memcmp(x.data(), b.visit([](const auto& y) {
                                                               return static_cast<const void*>(y.data());
                                                           }),
                                                           bytes) == 0; });
}

tensor random_batch(std::size_t B, std::size_t T, std::uint64_t seed, dtype d, const std::vector<std::size_t>& len,
                    double pad) {
    tensor x = randn({B, T, 3}, seed, d);
    for (std::size_t b = 0; b < B; ++b)
        for (std::size_t t = len[b]; t < T; ++t)
            for (std::size_t k = 0; k < 3; ++k) x.set_flat((b * T + t) * 3 + k, pad);
    return x;
}
}  // namespace

TEST_CASE("varlen: PyTorch packed sequences, 2 layers, float64, every output and gradient within 1e-12") {
    // bi_*: bidirectional, the reverse direction starting at each row's own last step; states at
    // PyTorch's h_n index 2·l + direction, outputs [fwd | reverse]
    for (const std::string fixture : {"rnn", "lstm", "gru", "bi_rnn", "bi_lstm", "bi_gru"}) {
        CAPTURE(fixture);
        const bool bi = fixture.rfind("bi_", 0) == 0;
        const std::string cell = bi ? fixture.substr(3) : fixture;
        const std::size_t D = bi ? 2 : 1, F = 4 * D;
        auto m = make(cell, dtype::float64, 2, true, false, 3, bi);
        for (auto& [name, p] : m->named_parameters()) {
            tensor v = load(fixture, name);
            REQUIRE(v.shape() == p.shape());
            p.value() = std::move(v);
            p.zero_grad();
        }
        const auto len = as_lengths(load(fixture, "lengths"));
        REQUIRE(len == std::vector<std::size_t>{5, 2, 3});
        tape t;
        var x = input(load(fixture, "input"), {.requires_grad = true, .name = "x"});
        var y = m->forward(x, {}, len);
        CHECK(max_abs_diff(y.value(), load(fixture, "output")) < 1e-12);
        const tensor h_n = load(fixture, "h_n");
        const auto st = m->final_state();
        REQUIRE(st.h.size() == 2 * D);
        for (std::size_t l = 0; l < 2 * D; ++l) {
            tensor want = tensor::zeros({3, 4}, dtype::float64);
            for (std::size_t i = 0; i < 12; ++i) want.set_flat(i, h_n.flat(l * 12 + i));
            CHECK(max_abs_diff(st.h[l].value(), want) < 1e-12);
            if (cell == "lstm") {
                const tensor c_n = load(fixture, "c_n");
                for (std::size_t i = 0; i < 12; ++i) want.set_flat(i, c_n.flat(l * 12 + i));
                CHECK(max_abs_diff(st.c[l].value(), want) < 1e-12);
            }
        }
        const tensor r3 = cell == "lstm" ? load(fixture, "weights_c") : tensor();
        t.backward(packed_loss(*m, y, load(fixture, "weights"), load(fixture, "weights_h"), r3));
        CHECK(max_abs_diff(x.grad(), load(fixture, "grad.input")) < 1e-12);
        double biggest = 0;
        for (auto& [name, p] : m->named_parameters()) {
            CAPTURE(name);
            const tensor want = load(fixture, "grad." + name);
            CHECK(max_abs_diff(p.grad(), want) < 1e-12);
            for (std::size_t i = 0; i < want.size(); ++i) biggest = std::max(biggest, std::abs(want.flat(i)));
        }
        CHECK(biggest > 1e-2);  // not vacuous
        // padded steps: output 0, input gradient 0 (PyTorch's too)
        CHECK(y.value().flat((1 * 5 + 3) * F) == 0.0);
        CHECK(y.value().flat((1 * 5 + 3) * F + F - 1) == 0.0);
        CHECK(x.grad().flat((1 * 5 + 4) * 3) == 0.0);
    }
}

TEST_CASE("varlen: a padded batch equals each sequence run alone (outputs, states, gradients summed)") {
    const std::vector<std::size_t> len{5, 2, 3};
    struct variant {
        bool fused, textbook;
    };
    for (const std::string cell : {"rnn", "lstm", "gru"})
        for (const variant v : {variant{true, false}, variant{false, false}, variant{true, true}}) {
            CAPTURE(cell);
            CAPTURE(v.fused);
            CAPTURE(v.textbook);
            auto m = make(cell, dtype::float64, 2, v.fused, v.textbook);
            const tensor xv = random_batch(3, 5, 11, dtype::float64, len, 0.0);
            const tensor r = randn({3, 5, 4}, 12, dtype::float64);
            const tensor r2 = randn({2, 3, 4}, 13, dtype::float64);
            // batched
            m->zero_grad();
            tape t;
            var x = input(xv, {.requires_grad = true});
            var y = m->forward(x, {}, len);
            t.backward(packed_loss(*m, y, r, r2, r2));
            const tensor y_all = y.value(), gx_all = x.grad();
            const auto st_all = m->final_state();
            std::vector<tensor> h_all, c_all;
            for (auto& h : st_all.h) h_all.push_back(h.value());
            for (auto& c : st_all.c) c_all.push_back(c.value());
            std::vector<std::pair<std::string, tensor>> g_all;
            for (auto& [name, p] : m->named_parameters()) g_all.emplace_back(name, p.grad());
            // one by one, gradients accumulating across the runs
            m->zero_grad();
            for (std::size_t b = 0; b < 3; ++b) {
                tape tb;
                tensor xb = tensor::zeros({1, len[b], 3}, dtype::float64);
                for (std::size_t i = 0; i < len[b] * 3; ++i) xb.set_flat(i, xv.flat(b * 15 + i));
                tensor rb = tensor::zeros({1, len[b], 4}, dtype::float64);
                for (std::size_t i = 0; i < len[b] * 4; ++i) rb.set_flat(i, r.flat(b * 20 + i));
                tensor r2b = tensor::zeros({2, 1, 4}, dtype::float64);
                for (std::size_t l = 0; l < 2; ++l)
                    for (std::size_t k = 0; k < 4; ++k) r2b.set_flat(l * 4 + k, r2.flat((l * 3 + b) * 4 + k));
                var xb_v = input(xb, {.requires_grad = true});
                var yb = m->forward(xb_v, {});
                tb.backward(packed_loss(*m, yb, rb, r2b, r2b));
                double err = 0;
                for (std::size_t i = 0; i < len[b] * 4; ++i)
                    err = std::max(err, std::abs(yb.value().flat(i) - y_all.flat(b * 20 + i)));
                for (std::size_t i = 0; i < len[b] * 3; ++i)
                    err = std::max(err, std::abs(xb_v.grad().flat(i) - gx_all.flat(b * 15 + i)));
                const auto st = m->final_state();
                for (std::size_t l = 0; l < 2; ++l)
                    for (std::size_t k = 0; k < 4; ++k) {
                        err = std::max(err, std::abs(st.h[l].value().flat(k) - h_all[l].flat(b * 4 + k)));
                        if (!st.c.empty())
                            err = std::max(err, std::abs(st.c[l].value().flat(k) - c_all[l].flat(b * 4 + k)));
                    }
                CAPTURE(b);
                CHECK(err < 1e-12);
            }
            for (auto& [name, g] : g_all) {
                CAPTURE(name);
                for (auto& [n2, p] : m->named_parameters())
                    if (n2 == name) CHECK(max_abs_diff(p.grad(), g) < 1e-12);
            }
        }
}

TEST_CASE("varlen: the padding's values change nothing, bit for bit (NaN and huge values too)") {
    const std::vector<std::size_t> len{2, 5, 1, 4};
    for (const std::string cell : {"rnn", "lstm", "gru"}) {
        CAPTURE(cell);
        auto m = make(cell, dtype::float64, 2);
        const tensor r = randn({4, 5, 4}, 22, dtype::float64);
        const tensor r2 = randn({2, 4, 4}, 23, dtype::float64);
        struct run_t {
            tensor y, gx;
            std::vector<tensor> g;
        };
        auto run = [&](double pad) {
            m->zero_grad();
            tape t;
            var x = input(random_batch(4, 5, 21, dtype::float64, len, pad), {.requires_grad = true});
            var y = m->forward(x, {}, len);
            t.backward(packed_loss(*m, y, r, r2, r2));
            run_t out{y.value(), x.grad(), {}};
            for (auto& [name, p] : m->named_parameters()) out.g.push_back(p.grad());
            return out;
        };
        const run_t zero = run(0.0);
        for (double pad : {7.5, -1e30, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
            CAPTURE(pad);
            const run_t other = run(pad);
            CHECK(all_finite(other.y));
            CHECK(same_bits(zero.y, other.y));
            CHECK(same_bits(zero.gx, other.gx));
            for (std::size_t k = 0; k < zero.g.size(); ++k) CHECK(same_bits(zero.g[k], other.g[k]));
        }
    }
}

TEST_CASE("varlen: float32 gives the float64 results to float32 rounding") {
    const std::vector<std::size_t> len{3, 1};
    for (const std::string cell : {"rnn", "lstm", "gru"}) {
        CAPTURE(cell);
        auto m64 = make(cell, dtype::float64, 1);
        auto m32 = make(cell, dtype::float64, 1);
        m32->cast(dtype::float32);
        const tensor xv = random_batch(2, 3, 31, dtype::float64, len, 0.0);
        tape t;
        var y64 = m64->forward(input(xv), {}, len);
        var y32 = m32->forward(input(xv.to(dtype::float32)), {}, len);
        CHECK(y32.dtype() == dtype::float32);
        CHECK(max_abs_diff(y32.value().to(dtype::float64), y64.value()) < 1e-5);
        CHECK(y32.value().flat((1 * 3 + 2) * 4) == 0.0f);  // row 1 ends after 1 step
        CHECK(max_abs_diff(m32->final_h()[0].value().to(dtype::float64), m64->final_h()[0].value()) < 1e-5);
    }
}

TEST_CASE("varlen: full lengths record the graph of a call without lengths, and the last step is each row's own") {
    auto m = make("lstm", dtype::float64, 1);
    const tensor xv = randn({2, 4, 3}, 41, dtype::float64);
    tape a;
    const tensor plain = m->forward(input(xv), {}).value();
    const std::size_t n_plain = a.size();
    a.clear();
    const tensor full = m->forward(input(xv), {}, {4, 4}).value();
    CHECK(a.size() == n_plain);
    CHECK(same_bits(plain, full));
    // return_sequences = false: the output is each row's h at its own length
    nn::recurrent_options o;
    o.input_size = 3;
    o.hidden_size = 4;
    o.dt = dtype::float64;
    nn::gru g(o);
    tape b;
    const tensor last = g(input(xv), {}, {2, 4}).value();
    const tensor seq2 = [&] {
        tensor x2 = tensor::zeros({1, 2, 3}, dtype::float64);
        for (std::size_t i = 0; i < 6; ++i) x2.set_flat(i, xv.flat(i));
        return g(input(x2)).value();
    }();
    for (std::size_t k = 0; k < 4; ++k) CHECK(std::abs(last.flat(k) - seq2.flat(k)) < 1e-14);
}

TEST_CASE("varlen: bad lengths name the layer, the batch row, the value and T") {
    auto m = make("lstm", dtype::float64, 1);
    tape t;
    var x = input(randn({3, 5, 3}, 1, dtype::float64));
    const std::string count = message_of<shape_error>([&] { m->forward(x, {}, {5, 2}); });
    CHECK(contains(count, "nn::lstm"));
    CHECK(contains(count, "2 entries"));
    CHECK(contains(count, "3 batch rows"));
    const std::string zero = message_of<argument_error>([&] { m->forward(x, {}, {5, 0, 3}); });
    CHECK(contains(zero, "nn::lstm: lengths[1] = 0"));
    CHECK(contains(zero, "batch row 1"));
    CHECK(contains(zero, "T=5"));
    nn::gru g(nn::recurrent_options{.input_size = 3, .hidden_size = 2, .dt = dtype::float64});
    const std::string big = message_of<argument_error>([&] { g(x, {}, {5, 2, 6}); });
    CHECK(contains(big, "nn::gru: lengths[2] = 6"));
    CHECK(contains(big, "T=5"));
    // the ops check their lengths too
    CHECK(contains(message_of<argument_error>([&] { mask_padding(x, input(tensor(xt::xarray<double>{1, 2.5, 1}))); }),
                   "lengths[1] = 2.5"));
    CHECK(contains(message_of<shape_error>([&] { mask_padding(x, lengths_input({1, 2}, dtype::float64)); }),
                   "lengths must be [batch=3]"));
}

TEST_CASE("varlen: masked losses average over the valid steps only") {
    tape t;
    const std::vector<std::size_t> len{3, 1};
    tensor pv = randn({2, 3, 2}, 51, dtype::float64), tv = randn({2, 3, 2}, 52, dtype::float64);
    var p = input(pv, {.requires_grad = true});
    var loss = mse(p, input(tv), lengths_input(len, dtype::float64));
    double want = 0;
    for (std::size_t i = 0; i < 6; ++i) want += std::pow(pv.flat(i) - tv.flat(i), 2);       // row 0: 3 steps
    for (std::size_t i = 6; i < 8; ++i) want += std::pow(pv.flat(i) - tv.flat(i), 2);       // row 1: 1 step
    CHECK(loss.item() == doctest::Approx(want / 8).epsilon(1e-14));
    t.backward(loss);
    CHECK(p.grad().flat(7) == doctest::Approx(2 * (pv.flat(7) - tv.flat(7)) / 8).epsilon(1e-14));
    for (std::size_t i = 8; i < 12; ++i) CHECK(p.grad().flat(i) == 0.0);  // padded steps of row 1
    CHECK(contains(message_of<argument_error>([&] { mse(p, input(tv), lengths_input({0, 0}, dtype::float64)); }),
                   "no valid step"));
    // bce_with_logits likewise
    tensor target = tensor::full({2, 3, 2}, 1.0, dtype::float64);
    var l2 = bce_with_logits(p, input(target), lengths_input(len, dtype::float64));
    double want2 = 0;
    for (std::size_t i = 0; i < 8; ++i) want2 += std::log1p(std::exp(-pv.flat(i)));
    CHECK(l2.item() == doctest::Approx(want2 / 8).epsilon(1e-12));
}

TEST_CASE("varlen: sequence_regressor(x, lengths) reads each row at its own length") {
    nn::sequence_regressor model({.cell = "lstm", .hidden = 5, .input_size = 3, .dt = dtype::float64});
    const tensor xv = random_batch(2, 4, 61, dtype::float64, {4, 2}, 3.0);
    tape t;
    const tensor y = model(input(xv), {4, 2}).value();
    tensor x1 = tensor::zeros({1, 2, 3}, dtype::float64);
    for (std::size_t i = 0; i < 6; ++i) x1.set_flat(i, xv.flat(12 + i));
    const tensor y1 = model(input(x1)).value();
    CHECK(std::abs(y.flat(1) - y1.flat(0)) < 1e-14);
}

TEST_CASE("varlen: the DOT picture names the rows whose sequence ends at a step") {
    auto m = make("rnn", dtype::float64, 1);
    tape t;
    m->forward(input(randn({3, 5, 3}, 71, dtype::float64)), {}, {5, 2, 3});
    std::vector<std::string> labels;
    for (std::size_t i = 0; i < t.size(); ++i)
        if (std::string(t.at(i).op_name) == "mask_step") labels.push_back(t.at(i).name + " @ " + t.scope_path(t.at(i).scope));
    // masks only from the first step where a row has ended (t = min length = 2)
    REQUIRE(labels.size() == 3);
    CHECK(labels[0] == "b=1 ends (len 2) @ rnn/t=2");
    CHECK(labels[1] == "b=2 ends (len 3) @ rnn/t=3");
    CHECK(labels[2] == "holds b=1,2 @ rnn/t=4");
    std::size_t paddings = 0;
    for (std::size_t i = 0; i < t.size(); ++i)
        if (std::string(t.at(i).op_name) == "mask_padding") {
            ++paddings;
            CHECK(t.scope_path(t.at(i).scope) == "rnn");  // the input's mask, in the layer's cluster
        }
    CHECK(paddings == 2);  // the input and the return_sequences output
    const std::string dot = to_dot(t);
    CHECK(contains(dot, "mask_step\\nb=1 ends (len 2)"));
}

TEST_CASE("varlen: fit, evaluate and predict_outputs read each sample at its own length") {
    const std::vector<std::size_t> len{4, 1, 3, 2, 4, 2, 1, 3};
    auto data = [&](double pad) {
        nn::dataset d{random_batch(8, 4, 81, dtype::float64, len, pad), randn({8, 1}, 82, dtype::float64), len};
        return d;
    };
    auto trained = [&](double pad) {
        nn::sequence_regressor m({.cell = "gru", .hidden = 4, .input_size = 3, .seed = 5, .dt = dtype::float64});
        nn::fit(m, data(pad), {}, {.epochs = 2, .batch_size = 3, .seed = 2});
        std::vector<tensor> w;
        for (auto& p : m.parameters()) w.push_back(p.value());
        return std::make_pair(w, nn::evaluate(m, data(pad), 5));
    };
    const auto [w0, e0] = trained(0.0);
    const auto [w1, e1] = trained(1e6);
    REQUIRE(w0.size() == w1.size());
    for (std::size_t k = 0; k < w0.size(); ++k) CHECK(same_bits(w0[k], w1[k]));
    CHECK(e0 == e1);
    CHECK(std::isfinite(e0));
    // predict_outputs with lengths = each sample run alone
    nn::sequence_regressor m({.cell = "lstm", .hidden = 4, .input_size = 3, .seed = 6, .dt = dtype::float64});
    const tensor x = data(2.0).x;
    const tensor p = nn::predict_outputs(m, x, 3, len);
    tape t;
    for (std::size_t b = 0; b < 8; ++b) {
        tensor xb = tensor::zeros({1, len[b], 3}, dtype::float64);
        for (std::size_t i = 0; i < len[b] * 3; ++i) xb.set_flat(i, x.flat(b * 12 + i));
        CHECK(std::abs(m(input(xb)).value().flat(0) - p.flat(b)) < 1e-14);
    }
    CHECK(contains(message_of<argument_error>([&] { nn::predict_outputs(m, x, 3, {1, 2}); }), "2 lengths for 8 samples"));
    nn::dataset bad = data(0.0);
    bad.lengths.pop_back();
    CHECK(contains(message_of<argument_error>([&] { nn::evaluate(m, bad); }), "nn::evaluate: the data has 7 lengths for 8"));
}
