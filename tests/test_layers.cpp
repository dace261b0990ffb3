// nn layers: initialisers, linear, embedding, rnn, lstm, gru. Gradchecks in float64 at small sizes
// (batch 2, 3-5 steps, hidden 3) w.r.t. inputs and parameters, LSTM and GRU against hand-written
// gate loops, module behaviour (names, freeze, cast, summary), scopes and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include <xgrad/xgrad.hpp>

using namespace xgrad;
namespace nn = xgrad::nn;

namespace {
constexpr dtype f64 = dtype::float64;

nn::recurrent_options small(std::size_t layers = 1, bool seq = false, std::uint64_t seed = 3) {
    nn::recurrent_options o;
    o.input_size = 2;
    o.hidden_size = 3;
    o.num_layers = layers;
    o.return_sequences = seq;
    o.seed = seed;
    o.dt = f64;
    return o;
}

// Makes biases non-zero (Keras init leaves them 0) so the checks exercise every term.
void randomise(nn::module& m, std::uint64_t seed, double scale = 0.5) {
    rng gen(seed);
    for (auto& p : m.parameters()) p.value() = uniform(p.shape(), -scale, scale, gen, p.dtype());
}

void check_ok(const gradcheck_report& r) {
    INFO(r.str());
    CHECK(r.ok);
    CHECK(r.entries.size() > 0);
}

double at2(const tensor& t, std::size_t i, std::size_t j) { return t.flat(i * t.shape()[1] + j); }
double at3(const tensor& t, std::size_t b, std::size_t s, std::size_t k) {
    return t.flat((b * t.shape()[1] + s) * t.shape()[2] + k);
}
double sig(double v) { return 1.0 / (1.0 + std::exp(-v)); }
}  // namespace

TEST_CASE("initialisers: glorot bound, orthogonality, seeds") {
    rng gen(1);
    const tensor g = nn::glorot_uniform({40, 30}, gen, f64);
    const double bound = std::sqrt(6.0 / 70.0);
    CHECK(nn::glorot_bound(30, 40) == doctest::Approx(bound));
    double mx = 0;
    for (std::size_t i = 0; i < g.size(); ++i) mx = std::max(mx, std::abs(g.flat(i)));
    CHECK(mx <= bound);
    CHECK(mx > 0.95 * bound);  // the draw fills the interval

    // 650 × 420 and its transpose: past 2¹⁸ elements, the blocked path (partial blocks, a tail of rows)
    for (shape_t s : {shape_t{12, 3}, shape_t{3, 12}, shape_t{5, 5}, shape_t{650, 420}, shape_t{420, 650}}) {
        CAPTURE(shape_str(s));
        rng og(7);
        const tensor w = nn::orthogonal(s, og, 1.0, f64);
        CHECK(w.shape() == s);
        const bool tall = s[0] >= s[1];
        const std::size_t n = tall ? s[1] : s[0], m = tall ? s[0] : s[1];
        double err = 0;  // WᵀW = I (tall) or WWᵀ = I (wide)
        for (std::size_t a = 0; a < n; ++a)
            for (std::size_t b = 0; b < n; ++b) {
                double dot = 0;
                for (std::size_t k = 0; k < m; ++k)
                    dot += tall ? at2(w, k, a) * at2(w, k, b) : at2(w, a, k) * at2(w, b, k);
                err = std::max(err, std::abs(dot - (a == b ? 1.0 : 0.0)));
            }
        CHECK(err < 1e-12);
    }
    rng og(7);
    const tensor w2 = nn::orthogonal({4, 4}, og, 2.0, f64);
    double col = 0;
    for (std::size_t k = 0; k < 4; ++k) col += at2(w2, k, 0) * at2(w2, k, 0);
    CHECK(col == doctest::Approx(4.0));  // gain 2 scales the norm

    rng a(9), b(9), c(10);
    CHECK(max_abs_diff(nn::orthogonal({6, 3}, a), nn::orthogonal({6, 3}, b)) == 0.0);
    CHECK(max_abs_diff(nn::uniform_hidden({6}, 4, a), nn::uniform_hidden({6}, 4, c)) > 0.0);
}

TEST_CASE("recurrent init: keras and pytorch defaults, bit-reproducible by seed") {
    auto o = small(2);
    o.hidden_size = 4;
    nn::lstm a(o), b(o);
    for (auto& [name, p] : a.named_parameters()) CHECK(max_abs_diff(p.value(), b.find(name).value()) == 0.0);
    const auto& w_hh = a.layer(1).w_hh.value();  // [16, 4], orthonormal columns
    CHECK(w_hh.shape() == shape_t{16, 4});
    double dot01 = 0, dot00 = 0;
    for (std::size_t k = 0; k < 16; ++k) {
        dot00 += at2(w_hh, k, 0) * at2(w_hh, k, 0);
        dot01 += at2(w_hh, k, 0) * at2(w_hh, k, 1);
    }
    CHECK(dot00 == doctest::Approx(1.0));
    CHECK(std::abs(dot01) < 1e-12);
    const auto& w_ih = a.layer(0).w_ih.value();  // Keras kernel [2, 16]: fan_in 2, fan_out 16
    for (std::size_t i = 0; i < w_ih.size(); ++i) CHECK(std::abs(w_ih.flat(i)) <= nn::glorot_bound(2, 16));
    const auto& b_ih = a.layer(0).b_ih.value();  // unit_forget_bias: 1 in the f gate only
    CHECK(b_ih.flat(0) == 0.0);
    CHECK(b_ih.flat(4) == 1.0);
    CHECK(b_ih.flat(8) == 0.0);
    CHECK(max_abs_diff(a.layer(0).b_hh.value(), tensor::zeros({16}, f64)) == 0.0);

    o.init = nn::init_style::pytorch;
    o.seed = 5;
    nn::gru p(o);
    for (auto& [name, prm] : p.named_parameters())
        for (std::size_t i = 0; i < prm.size(); ++i) CHECK(std::abs(prm.value().flat(i)) <= 0.5);  // 1/sqrt(4)
    o.seed = 6;
    nn::gru q(o);
    CHECK(max_abs_diff(p.layer(0).w_ih.value(), q.layer(0).w_ih.value()) > 0.0);
}

TEST_CASE("modules: PyTorch names, count, freeze, cast, summary") {
    nn::lstm m(small(2));
    std::vector<std::string> names;
    for (auto& [n, p] : m.named_parameters()) names.push_back(n);
    CHECK(names == std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"});
    CHECK(m.find("weight_ih_l1").shape() == shape_t{12, 3});
    // layer 0: 12·2 + 12·3 + 12 + 12, layer 1: 12·3 + 12·3 + 12 + 12
    CHECK(m.parameter_count() == 84 + 96);
    m.freeze("weight_hh_l0");
    CHECK(m.parameter_count(true) == 84 + 96 - 36);
    CHECK(m.summary().find("weight_hh_l0") != std::string::npos);
    m.unfreeze_all();
    m.cast(dtype::float32);
    CHECK(m.find("bias_hh_l1").dtype() == dtype::float32);
    tape t;
    var y = m(input(randn({2, 3, 2}, 1, dtype::float32)));
    CHECK(y.shape() == shape_t{2, 3});
    CHECK(y.dtype() == dtype::float32);

    nn::linear lin(3, 2, false);
    CHECK(lin.named_parameters().size() == 1);
    nn::rnn r(small());
    nn::gru g(small());
    CHECK(r.parameter_count() == 3 * 2 + 3 * 3 + 3 + 3);
    CHECK(g.parameter_count() == 3 * (3 * 2 + 3 * 3 + 3 + 3));
}

TEST_CASE("linear and embedding: forward and gradcheck") {
    nn::linear lin(3, 2, true, nn::init_style::pytorch, 4, f64);
    tape t;
    const tensor x = randn({4, 3}, 2, f64);
    var y = lin(input(x));
    CHECK(y.shape() == shape_t{4, 2});
    const auto& W = lin.weight().value();
    const auto& b = lin.bias().value();
    double expect = b.flat(1);
    for (std::size_t k = 0; k < 3; ++k) expect += at2(x, 2, k) * at2(W, 1, k);
    CHECK(at2(y.value(), 2, 1) == doctest::Approx(expect).epsilon(1e-14));
    check_ok(gradcheck([&](std::span<const var> in) { return lin(in[0]); }, {randn({2, 4, 3}, 3, f64)},
                       lin.parameters()));
    CHECK_THROWS_AS(lin(input(randn({4, 2}, 1, f64))), shape_error);

    nn::embedding emb(5, 3, 1, f64);
    for (std::size_t i = 0; i < 15; ++i) CHECK(std::abs(emb.weight().value().flat(i)) <= 0.05);
    var e = emb(input(tensor(xt::xarray<double>{{0, 4}, {2, 2}})));
    CHECK(e.shape() == shape_t{2, 2, 3});
    CHECK(at3(e.value(), 0, 1, 2) == emb.weight().value().flat(4 * 3 + 2));
}

TEST_CASE("rnn gradcheck for each activation, last output and whole sequence") {
    for (const char* act : {"tanh", "sigmoid", "relu", "leaky_relu", "elu", "softplus"}) {
        for (bool seq : {false, true}) {
            CAPTURE(act);
            CAPTURE(seq);
            auto o = small(1, seq);
            o.activation = act;
            nn::rnn m(o);
            randomise(m, 11);
            rng gen(5);
            check_ok(gradcheck([&](std::span<const var> in) { return m(in[0]); },
                               {sample({2, 4, 2}, domain::off_kinks, gen)}, m.parameters()));
        }
    }
}

TEST_CASE("recurrent gradcheck: 2 layers, h0 and c0 given, w.r.t. inputs, states and parameters") {
    rng gen(8);
    for (bool seq : {false, true}) {
        CAPTURE(seq);
        nn::rnn r(small(2, seq));
        randomise(r, 1);
        check_ok(gradcheck([&](std::span<const var> in) { return r(in[0], {in[1], in[2]}); },
                           {randn({2, 3, 2}, gen, f64), randn({2, 3}, gen, f64), randn({2, 3}, gen, f64)},
                           r.parameters()));
        nn::gru g(small(2, seq));
        randomise(g, 2);
        check_ok(gradcheck([&](std::span<const var> in) { return g(in[0], {in[1], in[2]}); },
                           {randn({2, 4, 2}, gen, f64), randn({2, 3}, gen, f64), randn({2, 3}, gen, f64)},
                           g.parameters()));
        nn::lstm l(small(2, seq));
        randomise(l, 3);
        check_ok(gradcheck([&](std::span<const var> in) { return l(in[0], {in[1], in[2]}, {in[3], in[4]}); },
                           {randn({2, 5, 2}, gen, f64), randn({2, 3}, gen, f64), randn({2, 3}, gen, f64),
                            randn({2, 3}, gen, f64), randn({2, 3}, gen, f64)},
                           l.parameters()));
        // single layer, zero initial state, final cell state as output
        nn::lstm l1(small(1, seq));
        randomise(l1, 4);
        check_ok(gradcheck([&](std::span<const var> in) { l1(in[0]); return l1.final_c()[0]; },
                           {randn({2, 3, 2}, gen, f64)}, l1.parameters()));
        nn::gru g1(small(1, seq));
        randomise(g1, 5);
        check_ok(gradcheck([&](std::span<const var> in) { return g1(in[0]); }, {randn({2, 3, 2}, gen, f64)},
                           g1.parameters()));
    }
}

TEST_CASE("lstm and gru forward equal a hand-written gate computation") {
    const std::size_t B = 2, T = 4, I = 2, H = 3;
    const tensor x = randn({B, T, I}, 21, f64);
    auto wx = [&](const tensor& W, const tensor& b, std::size_t bi, std::size_t t, std::size_t row) {
        double s = b.flat(row);
        for (std::size_t k = 0; k < I; ++k) s += at2(W, row, k) * at3(x, bi, t, k);
        return s;
    };
    auto wh = [&](const tensor& W, const tensor& b, const std::vector<double>& h, std::size_t row) {
        double s = b.flat(row);
        for (std::size_t k = 0; k < H; ++k) s += at2(W, row, k) * h[k];
        return s;
    };
    SUBCASE("lstm") {
        nn::lstm m(small(1, true));
        randomise(m, 31);
        tape t;
        var y = m(input(x));
        const auto& p = m.layer(0);
        for (std::size_t bi = 0; bi < B; ++bi) {
            std::vector<double> h(H, 0.0), c(H, 0.0);
            for (std::size_t s = 0; s < T; ++s) {
                std::vector<double> hn(H), cn(H);
                for (std::size_t j = 0; j < H; ++j) {
                    auto gate = [&](std::size_t k) {
                        return wx(p.w_ih.value(), p.b_ih.value(), bi, s, k * H + j) +
                               wh(p.w_hh.value(), p.b_hh.value(), h, k * H + j);
                    };
                    const double i = sig(gate(0)), f = sig(gate(1)), g = std::tanh(gate(2)), o = sig(gate(3));
                    cn[j] = f * c[j] + i * g;
                    hn[j] = o * std::tanh(cn[j]);
                }
                h = hn;
                c = cn;
                for (std::size_t j = 0; j < H; ++j) CHECK(at3(y.value(), bi, s, j) == doctest::Approx(h[j]).epsilon(1e-13));
            }
            for (std::size_t j = 0; j < H; ++j) CHECK(at2(m.final_c()[0].value(), bi, j) == doctest::Approx(c[j]).epsilon(1e-13));
        }
    }
    SUBCASE("gru") {
        nn::gru m(small(1, true));
        randomise(m, 32);
        tape t;
        var y = m(input(x));
        const auto& p = m.layer(0);
        for (std::size_t bi = 0; bi < B; ++bi) {
            std::vector<double> h(H, 0.0);
            for (std::size_t s = 0; s < T; ++s) {
                std::vector<double> hn(H);
                for (std::size_t j = 0; j < H; ++j) {
                    auto xi = [&](std::size_t k) { return wx(p.w_ih.value(), p.b_ih.value(), bi, s, k * H + j); };
                    auto hh = [&](std::size_t k) { return wh(p.w_hh.value(), p.b_hh.value(), h, k * H + j); };
                    const double r = sig(xi(0) + hh(0)), z = sig(xi(1) + hh(1));
                    const double n = std::tanh(xi(2) + r * hh(2));  // PyTorch: r multiplies (W_hn h + b_hn)
                    hn[j] = (1 - z) * n + z * h[j];
                }
                h = hn;
                for (std::size_t j = 0; j < H; ++j) CHECK(at3(y.value(), bi, s, j) == doctest::Approx(h[j]).epsilon(1e-13));
            }
            for (std::size_t j = 0; j < H; ++j) CHECK(at2(m.final_h()[0].value(), bi, j) == doctest::Approx(h[j]).epsilon(1e-13));
        }
    }
}

TEST_CASE("recurrent forward is scoped type / l=<l> / t=<k>, and final states carry across chunks") {
    nn::gru m(small(2));
    tape t;
    var y = m(input(randn({2, 3, 2}, 1, f64)));
    bool found = false, flat = true;
    for (std::size_t i = 0; i < t.size(); ++i) {
        const std::string path = t.scope_path(t.at(i).scope);
        if (path == "gru/l=1/t=2") found = true;
        if (t.at(i).kind == node_kind::op && path.rfind("gru/l=", 0) != 0) flat = false;
    }
    CHECK(found);
    CHECK(flat);  // every op of the layer sits inside a layer scope
    nn::rnn one(small(1));
    var z = one(input(randn({2, 3, 2}, 1, f64)));
    bool no_layer = true;
    for (std::size_t i = 0; i < t.size(); ++i)
        if (t.scope_path(t.at(i).scope).find("rnn/l=") == 0) no_layer = false;
    CHECK(no_layer);

    // truncated BPTT: chunk 2 starts from chunk 1's detached final state; equals the whole run's forward
    nn::lstm l(small(1, true));
    const tensor x = randn({2, 6, 2}, 2, f64);
    var whole = l(input(x));
    var a = l(slice(input(x), 1, 0, 3));
    std::vector<var> h{l.final_h()[0].detach()}, c{l.final_c()[0].detach()};
    var b = l(slice(input(x), 1, 3, 6), h, c);
    CHECK(max_abs_diff(slice(whole, 1, 3, 6).value(), b.value()) < 1e-14);
}

TEST_CASE("recurrent layers record few ops per time step") {
    tape t;
    auto per_step = [&](const std::string& path) {
        std::size_t n = 0;
        for (std::size_t i = 0; i < t.size(); ++i)
            if (t.at(i).kind == node_kind::op && t.scope_path(t.at(i).scope) == path) ++n;
        return n;
    };
    nn::rnn r(small());
    r(input(randn({2, 4, 2}, 1, f64)));
    nn::lstm l(small());
    l(input(randn({2, 4, 2}, 1, f64)));
    nn::gru g(small());
    g(input(randn({2, 4, 2}, 1, f64)));
    auto gates = small();
    gates.fused = false;
    nn::lstm lg(gates);
    lg(input(randn({2, 4, 2}, 1, f64)));
    nn::gru gg(gates);
    gg(input(randn({2, 4, 2}, 1, f64)));
    CHECK(per_step("rnn/t=2") == 2);        // linear_at (h·W_hhᵀ + a[:, t]), tanh
    CHECK(per_step("lstm/t=2") == 3 + 14);  // fused: linear_at, lstm_state, lstm_output; + gate by gate
    CHECK(per_step("gru/t=2") == 2 + 16);   // fused: linear, gru_cell_at (a[:, t] read in place); + gate by gate
    CHECK(per_step("lstm") == 2 * 2);  // per lstm: b_ih + b_hh, and the input projection of all steps
}

TEST_CASE("fused lstm and gru cells give the gate-by-gate values and gradients (2 layers, given states)") {
    for (std::string cell : {"lstm", "gru"}) {
        CAPTURE(cell);
        std::vector<double> results[2];
        for (bool fused : {true, false}) {
            auto o = small(2, true);
            o.hidden_size = 11;  // SIMD lanes and a scalar tail
            o.fused = fused;
            tape t;
            const tensor x = randn({3, 5, 2}, 4, f64);
            // initial states as parameters: their gradients are checked too
            std::vector<parameter> hp{parameter(randn({3, 11}, 5, f64)), parameter(randn({3, 11}, 6, f64))};
            std::vector<parameter> cp{parameter(randn({3, 11}, 7, f64)), parameter(randn({3, 11}, 8, f64))};
            std::vector<var> h0{hp[0], hp[1]}, c0{cp[0], cp[1]};
            std::unique_ptr<nn::recurrent_base> m;
            var y;
            if (cell == "lstm") {
                auto l = std::make_unique<nn::lstm>(o);
                y = (*l)(input(x), h0, c0);
                m = std::move(l);
            } else {
                auto g = std::make_unique<nn::gru>(o);
                y = (*g)(input(x), h0);
                m = std::move(g);
            }
            t.backward(sum(y * y));
            auto& r = results[fused ? 0 : 1];
            for (std::size_t i = 0; i < y.value().size(); ++i) r.push_back(y.value().flat(i));
            for (auto& p : m->parameters())
                for (std::size_t i = 0; i < p.grad().size(); ++i) r.push_back(p.grad().flat(i));
            for (auto& p : hp)
                for (std::size_t i = 0; i < p.grad().size(); ++i) r.push_back(p.grad().flat(i));
            if (cell == "lstm")
                for (auto& p : cp)
                    for (std::size_t i = 0; i < p.grad().size(); ++i) r.push_back(p.grad().flat(i));
        }
        REQUIRE(results[0].size() == results[1].size());
        for (std::size_t i = 0; i < results[0].size(); ++i)
            CHECK(results[0][i] == doctest::Approx(results[1][i]).epsilon(1e-12));
    }
}

TEST_CASE("cell ops name both shapes on a mismatch") {
    tape t;
    var g = input(randn({2, 8}, 1, f64)), c = input(randn({2, 3}, 2, f64));
    CHECK_THROWS_WITH_AS(lstm_state(g, c), doctest::Contains("[2, 8]"), shape_error);
    CHECK_THROWS_WITH_AS(lstm_output(g, c), doctest::Contains("lstm_output"), shape_error);
    CHECK_THROWS_AS(gru_cell(input(randn({2, 6}, 1, f64)), input(randn({2, 9}, 1, f64)), c), shape_error);
    CHECK_THROWS_AS(gru_cell(input(randn({2, 6}, 1, f64)), input(randn({2, 6}, 1, f64)), c), shape_error);
}

TEST_CASE("recurrent layers report bad inputs clearly") {
    nn::lstm m(small(2));
    tape t;
    CHECK_THROWS_AS(m(input(randn({2, 3}, 1, f64))), shape_error);
    CHECK_THROWS_AS(m(input(randn({2, 3, 5}, 1, f64))), shape_error);
    CHECK_THROWS_AS(m(input(randn({2, 3, 2}, 1, dtype::float32))), dtype_error);
    var h = input(randn({2, 3}, 1, f64));
    CHECK_THROWS_AS(m(input(randn({2, 3, 2}, 1, f64)), {h}), argument_error);
    CHECK_THROWS_AS(m(input(randn({2, 3, 2}, 1, f64)), {h, input(randn({3, 3}, 1, f64))}), shape_error);
    auto o = small();
    o.activation = "swishy";
    CHECK_THROWS_WITH_AS(nn::rnn{o}, doctest::Contains("swishy"), argument_error);
    // one message for a bad activation name, whoever checks it
    CHECK_THROWS_WITH_AS(nn::rnn{o}, "nn::rnn: unknown activation 'swishy' (known: tanh, sigmoid, relu, leaky_relu, "
                                     "elu, gelu, softplus, hard_tanh)", argument_error);
    CHECK_THROWS_WITH_AS(activation("swishy", input(randn({2}, 1, f64))),
                         "xgrad::activation: unknown activation 'swishy' (known: tanh, sigmoid, relu, leaky_relu, "
                         "elu, gelu, softplus, hard_tanh)", argument_error);
    CHECK_NOTHROW(check_activation("gelu", "test"));
    try {
        m(input(randn({2, 3, 5}, 1, f64)));
    } catch (const shape_error& e) {
        CHECK(std::string(e.what()).find("input_size=2") != std::string::npos);
        CHECK(std::string(e.what()).find("[2, 3, 5]") != std::string::npos);
    }
}

TEST_CASE("make_recurrent: any cell by name, called through recurrent_base, records the cell's own graph") {
    for (const char* cell : {"rnn", "lstm", "gru"}) {
        CAPTURE(cell);
        const auto o = small(2);
        const auto base = nn::make_recurrent(cell, o);
        CHECK(base->type_name() == cell);
        const tensor xv = randn({2, 4, 2}, 9, f64);
        tape t;
        std::vector<var> h0{input(randn({2, 3}, 10, f64)), input(randn({2, 3}, 11, f64))};
        std::vector<var> c0{input(randn({2, 3}, 12, f64)), input(randn({2, 3}, 13, f64))};
        const bool lstm = std::string(cell) == "lstm";
        const tensor through_base = base->forward(input(xv), {h0, lstm ? c0 : std::vector<var>{}}).value();
        const auto s = base->final_state();
        CHECK(s.h.size() == 2);
        CHECK(s.c.size() == (lstm ? 2u : 0u));
        var direct;
        if (lstm) direct = static_cast<nn::lstm&>(*base)(input(xv), h0, c0);
        else if (std::string(cell) == "gru") direct = static_cast<nn::gru&>(*base)(input(xv), h0);
        else direct = static_cast<nn::rnn&>(*base)(input(xv), h0);
        // The same graph; the second call reads the weights through linear's copies from its first step
        // on (they are used again in this generation), so a different kernel may round differently.
        CHECK(max_abs_diff(through_base, direct.value()) <= 1e-14);
        if (!lstm) CHECK_THROWS_WITH_AS(base->forward(input(xv), {h0, c0}), doctest::Contains("has no cell state"), argument_error);
    }
    CHECK_THROWS_WITH_AS(nn::make_recurrent("transformer", small()), doctest::Contains("unknown cell 'transformer'"),
                         argument_error);
}

TEST_CASE("sequential and the docs/nn-layers.md example") {
    // The example of docs/nn-layers.md, verbatim.
    nn::sequential model;
    auto& lstm = model.emplace<nn::lstm>("lstm", nn::recurrent_options{.input_size = 1, .hidden_size = 16, .seed = 7});
    model.emplace<nn::linear>("head", 16, 1);
    std::string table = model.summary();  // lstm.weight_ih_l0 [64, 1] ... head.bias [1]

    tape t;
    var x = input(randn({8, 20, 1}, 1));  // [batch, time, feature], float32
    var y = model(x);                     // [8, 1]
    var loss = mse(y, input(tensor::zeros({8, 1})));
    t.backward(loss);
    parameter w = model.find("lstm.weight_hh_l0");  // w.grad() holds dloss/dW_hh
    // (end of the example)

    CHECK(y.shape() == shape_t{8, 1});
    CHECK(table.find("lstm.weight_hh_l0") != std::string::npos);
    CHECK(table.find("head.bias") != std::string::npos);
    CHECK(w.grad().shape() == shape_t{64, 16});
    CHECK(lstm.final_h().size() == 1);
    CHECK(model.size() == 2);
    CHECK(model.parameter_count() == 4 * 16 * (1 + 16 + 2) + 16 + 1);

    // a function step and a gradcheck through the whole chain
    nn::sequential s;
    s.emplace<nn::gru>("gru", small(1, true));
    s.add("last", [](const var& h) { return select(h, 1, 2); });
    s.emplace<nn::linear>("head", 3, 2, true, nn::init_style::pytorch, 1, f64);
    randomise(s, 9);
    check_ok(gradcheck([&](std::span<const var> in) { return s(in[0]); }, {randn({2, 3, 2}, 3, f64)},
                       s.parameters()));
}
