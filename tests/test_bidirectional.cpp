// Bidirectional recurrent layers, reverse_time, dropout between stacked layers and train()/eval().
// PyTorch parity: the arrays were written once by tests/fixtures/make_pytorch_bidirectional.py (torch
// 1.13, Debian's python3-torch, float64, batch_first, bidirectional, dropout 0); this test only reads
// the .npy files.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <xtensor/xnpy.hpp>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;
namespace nn = xgrad::nn;
using xgrad::testing::contains;
using xgrad::testing::message_of;

namespace {

tensor load(const std::string& model, const std::string& name) {
    const std::string path = std::string(XGRAD_TEST_DATA) + "/pytorch/bi_" + model + "." + name + ".npy";
    return tensor(xt::xarray<double>(xt::load_npy<double>(path)));
}

std::vector<std::string> torch_names(const std::string& model) {
    std::ifstream f(std::string(XGRAD_TEST_DATA) + "/pytorch/bi_" + model + ".names.txt");
    REQUIRE(f.good());
    std::vector<std::string> names;
    for (std::string line; std::getline(f, line);)
        if (!line.empty()) names.push_back(line);
    return names;
}

nn::recurrent_options fixture_options(std::size_t layers) {
    nn::recurrent_options o;
    o.input_size = 3;
    o.hidden_size = 4;
    o.num_layers = layers;
    o.return_sequences = true;
    o.bidirectional = true;
    o.dt = dtype::float64;
    return o;
}

// Row k of a [K, batch, H] array as a [batch, H] tensor.
tensor row(const tensor& a, std::size_t k) {
    const std::size_t B = a.shape()[1], H = a.shape()[2];
    tensor r = tensor::zeros({B, H}, dtype::float64);
    for (std::size_t i = 0; i < B * H; ++i) r.set_flat(i, a.flat(k * B * H + i));
    return r;
}

// max |a - b| of two recorded vars (a's value copied first: recording may move the tape's storage,
// so no reference into it is held across another op's recording).
double vdiff(const var& a, const var& b) {
    const tensor va = a.value();
    return max_abs_diff(va, b.value());
}

double biggest(const tensor& a) {
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a.flat(i)));
    return m;
}

// Loads the parameters by PyTorch name, runs L = Σ y ⊙ R + Σ_k h_n[k] ⊙ R2[k] (+ c_n ⊙ R3), and
// compares the output, the final states and every gradient with PyTorch's, to 1e-12.
void check_parity(nn::recurrent_base& m, const std::string& model) {
    std::vector<std::string> names;
    for (auto& [name, p] : m.named_parameters()) {
        names.push_back(name);
        tensor v = load(model, name);
        REQUIRE_MESSAGE(v.shape() == p.shape(), model << "." << name << ": " << shape_str(v.shape()) << " vs "
                                                      << shape_str(p.shape()));
        p.value() = std::move(v);
        p.zero_grad();
    }
    CHECK(names == torch_names(model));  // PyTorch's state_dict order, *_reverse after each layer's forward
    tape t;
    var x = input(load(model, "input"), {.requires_grad = true, .name = "x"});
    var y = m.forward(x, {});
    const tensor expected = load(model, "output");
    REQUIRE(y.shape() == expected.shape());
    CHECK(max_abs_diff(y.value(), expected) < 1e-12);
    const auto last = m.final_state();
    const tensor h_n = load(model, "h_n"), w_h = load(model, "weights_h");
    REQUIRE(last.h.size() == h_n.shape()[0]);
    var loss = sum(y * input(load(model, "weights")));
    for (std::size_t k = 0; k < last.h.size(); ++k) {
        CAPTURE(k);
        CHECK(max_abs_diff(last.h[k].value(), row(h_n, k)) < 1e-12);
        loss = loss + sum(last.h[k] * input(row(w_h, k)));
    }
    if (!last.c.empty()) {
        const tensor c_n = load(model, "c_n"), w_c = load(model, "weights_c");
        REQUIRE(last.c.size() == c_n.shape()[0]);
        for (std::size_t k = 0; k < last.c.size(); ++k) {
            CHECK(max_abs_diff(last.c[k].value(), row(c_n, k)) < 1e-12);
            loss = loss + sum(last.c[k] * input(row(w_c, k)));
        }
    }
    t.backward(loss);
    CHECK(max_abs_diff(x.grad(), load(model, "grad.input")) < 1e-12);
    for (auto& [name, p] : m.named_parameters()) {
        CAPTURE(name);
        const tensor g = load(model, "grad." + name);
        CHECK(max_abs_diff(p.grad(), g) < 1e-12);
        CHECK(biggest(g) > 1e-3);  // not vacuous: every parameter, reverse ones too, gets a gradient
    }
}

// The three recordings of a layer (training's, gate by gate, textbook) against PyTorch.
template <class Layer>
void check_all_recordings(nn::recurrent_options o, const std::string& model) {
    for (int variant = 0; variant < 3; ++variant) {
        CAPTURE(variant);
        o.fused = variant != 1;
        o.textbook = variant == 2;
        Layer m(o);
        check_parity(m, model);
    }
}

std::string temp_path(const std::string& stem) {
    namespace fs = std::filesystem;
    return (fs::temp_directory_path() / (stem + "_" + std::to_string(::getpid()) + ".npz")).string();
}

}  // namespace

TEST_CASE("bidirectional pytorch parity: RNN tanh, 1 layer") {
    check_all_recordings<nn::rnn>(fixture_options(1), "rnn_tanh");
}

TEST_CASE("bidirectional pytorch parity: LSTM, 2 layers, h_n and c_n") {
    check_all_recordings<nn::lstm>(fixture_options(2), "lstm");
}

TEST_CASE("bidirectional pytorch parity: GRU, 2 layers") { check_all_recordings<nn::gru>(fixture_options(2), "gru"); }

TEST_CASE("bidirectional: the last output is cat(h_n forward, h_n reverse) of the top layer") {
    auto o = fixture_options(2);
    nn::gru seq(o);
    o.return_sequences = false;
    nn::gru last(o);
    for (auto& [name, p] : last.named_parameters()) p.value() = load("gru", name);
    tape t;
    var y = last(input(load("gru", "input")));
    REQUIRE(y.shape() == shape_t{2, 8});
    const tensor h_n = load("gru", "h_n");
    const auto& h = last.final_h();
    REQUIRE(h.size() == 4);
    CHECK(vdiff(slice(y, 1, 0, 4), h[2]) == 0.0);
    CHECK(vdiff(slice(y, 1, 4, 8), h[3]) == 0.0);
    CHECK(max_abs_diff(slice(y, 1, 4, 8).value(), row(h_n, 3)) < 1e-12);
    // the forward half equals the sequence output's last step, the reverse half its first step
    const tensor out = load("gru", "output");
    var full = input(out);
    CHECK(vdiff(slice(y, 1, 0, 4), slice(select(full, 1, 4), 1, 0, 4)) < 1e-12);
    CHECK(vdiff(slice(y, 1, 4, 8), slice(select(full, 1, 0), 1, 4, 8)) < 1e-12);
    CHECK(seq.parameter_count() == last.parameter_count());
}

TEST_CASE("bidirectional: parameter names and shapes, layer(l, reverse)") {
    nn::lstm m({.input_size = 3, .hidden_size = 5, .num_layers = 2, .bidirectional = true});
    CHECK(m.find("weight_ih_l0_reverse").shape() == shape_t{20, 3});
    CHECK(m.find("weight_ih_l1").shape() == shape_t{20, 10});  // layer 1 reads [fwd | bwd]
    CHECK(m.find("weight_hh_l1_reverse").shape() == shape_t{20, 5});
    CHECK(m.layer(1, true).w_ih.same_as(m.find("weight_ih_l1_reverse")));
    CHECK(m.layer(1).w_ih.same_as(m.find("weight_ih_l1")));
    CHECK(m.directions() == 2);
    CHECK(m.parameter_count() == 2 * (20 * 3 + 20 * 5 + 40) + 2 * (20 * 10 + 20 * 5 + 40));
    nn::lstm one({.input_size = 3, .hidden_size = 5});
    CHECK(contains(message_of<argument_error>([&] { (void)one.layer(0, true); }), "no reverse direction"));
    CHECK(contains(message_of<argument_error>([&] { (void)m.layer(2); }), "2 layer(s) in two directions"));
    // the same seed without bidirectional gives the same forward weights as before (draws in order)
    nn::lstm a({.input_size = 3, .hidden_size = 5, .seed = 3});
    nn::lstm b({.input_size = 3, .hidden_size = 5, .seed = 3, .bidirectional = true});
    CHECK(max_abs_diff(a.find("weight_hh_l0").value(), b.find("weight_hh_l0").value()) == 0.0);
    CHECK(max_abs_diff(b.find("weight_hh_l0").value(), b.find("weight_hh_l0_reverse").value()) > 0.0);
}

TEST_CASE("bidirectional: initial states per layer and direction, and the messages") {
    nn::gru m({.input_size = 2, .hidden_size = 3, .num_layers = 2, .return_sequences = true, .dt = dtype::float64,
               .bidirectional = true});
    tape t;
    var x = input(randn({2, 4, 2}, 1, dtype::float64));
    const std::string msg = message_of<argument_error>([&] {
        (void)m(x, {input(tensor::zeros({2, 3}, dtype::float64)), input(tensor::zeros({2, 3}, dtype::float64))});
    });
    CHECK(contains(msg, "per layer and direction (2 x 2 = 4"));
    CHECK(contains(msg, "got 2"));
    // explicit zero states equal the default
    std::vector<var> h0;
    for (int k = 0; k < 4; ++k) h0.push_back(input(tensor::zeros({2, 3}, dtype::float64)));
    var a = m(x), b = m(x, h0);
    CHECK(max_abs_diff(a.value(), b.value()) == 0.0);
    // a state fed to the reverse direction of layer 0 (index 1) changes that half only at once
    h0[1] = input(randn({2, 3}, 5, dtype::float64));
    nn::gru single({.input_size = 2, .hidden_size = 3, .num_layers = 1, .return_sequences = true,
                    .dt = dtype::float64, .bidirectional = true});
    var c = single(x), d = single(x, {h0[0], h0[1]});
    CHECK(vdiff(slice(c, 2, 0, 3), slice(d, 2, 0, 3)) == 0.0);
    CHECK(vdiff(slice(c, 2, 3, 6), slice(d, 2, 3, 6)) > 1e-3);
}

TEST_CASE("bidirectional: the reverse direction is the layer run on the reversed sequence") {
    // a one-direction layer with the reverse weights, run on reverse_time(x), reversed back = the reverse half
    nn::rnn bi({.input_size = 2, .hidden_size = 3, .return_sequences = true, .seed = 4, .dt = dtype::float64,
                .bidirectional = true});
    nn::rnn fw({.input_size = 2, .hidden_size = 3, .return_sequences = true, .dt = dtype::float64});
    fw.find("weight_ih_l0").value() = bi.find("weight_ih_l0_reverse").value();
    fw.find("weight_hh_l0").value() = bi.find("weight_hh_l0_reverse").value();
    fw.find("bias_ih_l0").value() = bi.find("bias_ih_l0_reverse").value();
    fw.find("bias_hh_l0").value() = bi.find("bias_hh_l0_reverse").value();
    tape t;
    var x = input(randn({3, 6, 2}, 2, dtype::float64));
    var y = bi(x);
    var r = reverse_time(fw(reverse_time(x)));
    CHECK(vdiff(slice(y, 2, 3, 6), r) == 0.0);
}

TEST_CASE("bidirectional: step_terms of reverse parameters sum to their gradients") {
    for (bool textbook : {false, true}) {
        CAPTURE(textbook);
        nn::lstm m({.input_size = 2, .hidden_size = 3, .num_layers = 2, .return_sequences = true,
                    .seed = 6, .dt = dtype::float64, .textbook = textbook, .bidirectional = true});
        tape t;
        var y = m(input(randn({2, 4, 2}, 3, dtype::float64)));
        t.backward(sum(y * input(randn({2, 4, 6}, 4, dtype::float64))));
        for (const auto* p : {&m.layer(0, true).w_hh, &m.layer(1, true).w_ih, &m.layer(1).w_hh}) {
            const auto terms = m.step_terms(*p);
            REQUIRE(terms.size() == 4);
            tensor total = tensor::zeros(p->shape(), dtype::float64);
            for (const auto& term : terms)
                for (std::size_t i = 0; i < total.size(); ++i) total.set_flat(i, total.flat(i) + term.flat(i));
            CHECK(max_abs_diff(total, p->grad()) < 1e-12);
            CHECK(biggest(p->grad()) > 1e-3);
        }
        // the reverse direction's steps sit in its own scope
        CHECK(contains(t.where(m.final_h()[1].index()), "reverse"));
    }
}

TEST_CASE("reverse_time: within each row's length, padding left in place, and its inverse") {
    tape t;
    tensor v = tensor::zeros({2, 4, 1}, dtype::float64);
    for (std::size_t i = 0; i < 8; ++i) v.set_flat(i, static_cast<double>(i));
    var x = input(v, {.requires_grad = true});
    var all = reverse_time(x);
    var part = reverse_time(x, {3, 1});
    const double want_all[] = {3, 2, 1, 0, 7, 6, 5, 4};
    const double want_part[] = {2, 1, 0, 3, 4, 5, 6, 7};
    for (std::size_t i = 0; i < 8; ++i) {
        CHECK(all.value().flat(i) == want_all[i]);
        CHECK(part.value().flat(i) == want_part[i]);
    }
    CHECK(max_abs_diff(reverse_time(part, {3, 1}).value(), v) == 0.0);
    // backward: the same permutation of dy
    tensor w = tensor::zeros({2, 4, 1}, dtype::float64);
    for (std::size_t i = 0; i < 8; ++i) w.set_flat(i, 10.0 * static_cast<double>(i));
    t.backward(sum(part * input(w)));
    for (std::size_t i = 0; i < 8; ++i) CHECK(x.grad().flat(i) == 10.0 * want_part[i]);
    CHECK(contains(message_of<argument_error>([&] { (void)reverse_time(x, {1, 2, 3}); }), "one length per batch row (2"));
    CHECK(contains(message_of<argument_error>([&] { (void)reverse_time(x, {5, 1}); }),
                   "length 5 of batch row 0 exceeds the 4 time steps"));
    CHECK(contains(message_of<shape_error>([&] { (void)reverse_time(input(tensor::zeros({3}))); }),
                   "at least 2 dimensions"));
}

TEST_CASE("dropout op: mask statistics, scaling and gradient") {
    tape t;
    const double p = 0.3;
    tensor ones = tensor::zeros({200, 50}, dtype::float64);
    ones.fill(1.0);
    var x = input(ones, {.requires_grad = true});
    var y = dropout(x, p, 11);
    std::size_t zeros = 0;
    double total = 0;
    bool values_ok = true;
    for (std::size_t i = 0; i < y.value().size(); ++i) {
        const double v = y.value().flat(i);
        if (v == 0.0) ++zeros;
        else values_ok = values_ok && v == 1.0 / (1.0 - p);
        total += v;
    }
    CHECK(values_ok);
    const double frac = static_cast<double>(zeros) / 10000.0;  // binomial: sd 0.0046
    CHECK(frac > p - 0.02);
    CHECK(frac < p + 0.02);
    CHECK(total / 10000.0 == doctest::Approx(1.0).epsilon(0.03));  // inverted scaling keeps the mean
    const tensor mask = y.value();  // a copy: later ops may move the tape's storage
    t.backward(sum(y));
    CHECK(max_abs_diff(x.grad(), mask) == 0.0);  // dx = dy ⊙ m, and y = m here
    // the same seed gives the same mask, another seed another one; p = 0 is the identity
    const tensor same = dropout(x, p, 11).value(), other = dropout(x, p, 12).value();
    CHECK(max_abs_diff(same, mask) == 0.0);
    CHECK(max_abs_diff(other, mask) > 0.0);
    var z = input(randn({3, 4}, 2, dtype::float32));
    CHECK(vdiff(dropout(z, 0.0, 5), z) == 0.0);
    for (double bad : {1.0, -0.1, std::nan("")})
        CHECK(contains(message_of<argument_error>([&] { (void)dropout(x, bad, 1); }), "must be in [0, 1)"));
}

namespace {
nn::recurrent_options stacked(double p, std::uint64_t dropout_seed) {
    return {.input_size = 2, .hidden_size = 4, .num_layers = 3, .return_sequences = true, .seed = 9,
            .dt = dtype::float64, .bidirectional = true, .dropout = p, .dropout_seed = dropout_seed};
}
tensor run(nn::recurrent_base& m, std::uint64_t input_seed = 1) {
    tape t;
    return m.forward(input(randn({3, 5, 2}, input_seed, dtype::float64)), {}).value();
}
}  // namespace

TEST_CASE("dropout between layers: eval equals p = 0 bit for bit, records no dropout node") {
    nn::lstm off(stacked(0.0, 1)), on(stacked(0.5, 1));
    const tensor ref = run(off);
    CHECK(max_abs_diff(run(on), ref) > 1e-3);  // training: masks change the output
    on.eval();
    CHECK(!on.is_training());
    CHECK(max_abs_diff(run(on), ref) == 0.0);
    {
        tape t;
        (void)on(input(randn({3, 5, 2}, 1, dtype::float64)));
        const std::size_t eval_nodes = t.size();
        t.clear();
        (void)off(input(randn({3, 5, 2}, 1, dtype::float64)));
        CHECK(t.size() == eval_nodes);
    }
    CHECK(on.dropout_calls() == 1);  // eval calls draw no mask
    on.train();
    CHECK(max_abs_diff(run(on), ref) > 1e-3);
    CHECK(on.dropout_calls() == 2);
}

TEST_CASE("dropout between layers: reproducible from its seed, successive calls differ") {
    nn::gru a(stacked(0.4, 7)), b(stacked(0.4, 7)), c(stacked(0.4, 8));
    const tensor a1 = run(a), a2 = run(a);
    CHECK(max_abs_diff(a1, run(b)) == 0.0);  // a rerun repeats exactly
    CHECK(max_abs_diff(a2, run(b)) == 0.0);
    CHECK(max_abs_diff(a1, a2) > 1e-3);      // the next batch gets other masks
    CHECK(max_abs_diff(a1, run(c)) > 1e-3);  // another seed, other masks
    a.set_dropout_calls(0);
    CHECK(max_abs_diff(run(a), a1) == 0.0);  // resuming a stream
    // dropout_seed unset: derived from seed
    auto o = stacked(0.4, 0);
    o.dropout_seed.reset();
    nn::gru d(o), e(o);
    CHECK(max_abs_diff(run(d), run(e)) == 0.0);
    CHECK(d.dropout_mask_seed(0, 1) == nn::dropout_mask_seed(9, 0, 1));
    CHECK(a.dropout_mask_seed(3, 0) != a.dropout_mask_seed(3, 1));
    // the textbook recording uses the same masks (the same maths to rounding)
    auto ot = stacked(0.4, 7);
    ot.textbook = true;
    nn::gru tb(ot);
    CHECK(max_abs_diff(run(tb), a1) < 1e-12);
    // one direction, textbook and training's recording agree with dropout too
    auto o1 = stacked(0.4, 7);
    o1.bidirectional = false;
    nn::lstm f1(o1);
    o1.textbook = true;
    nn::lstm f2(o1);
    CHECK(max_abs_diff(run(f1), run(f2)) < 1e-12);
}

TEST_CASE("dropout between layers: the tape's gradient matches central differences") {
    nn::lstm m({.input_size = 2, .hidden_size = 3, .num_layers = 2, .return_sequences = true, .seed = 2,
                .dt = dtype::float64, .bidirectional = true, .dropout = 0.5, .dropout_seed = 3});
    auto f = [&](std::span<const var> in) {
        m.set_dropout_calls(0);  // every evaluation sees the same masks
        return m(in[0]);
    };
    const auto report = gradcheck(f, {randn({2, 3, 2}, 5, dtype::float64)}, m.parameters());
    CHECK_MESSAGE(report.ok, report.str());
}

TEST_CASE("train and eval: recursive into children, nn::dropout layer") {
    struct net : nn::module {
        nn::gru cell{{.input_size = 2, .hidden_size = 3, .num_layers = 2, .dropout = 0.5}};
        nn::dropout drop{0.25, 4};
        net() : module("net") {
            register_module("cell", cell);
            register_module("drop", drop);
        }
    } m;
    CHECK(m.is_training());
    CHECK(m.cell.is_training());
    m.eval();
    CHECK(!m.cell.is_training());
    CHECK(!m.drop.is_training());
    CHECK(!m.cell.dropout_active());
    m.train();
    CHECK(m.drop.is_training());
    CHECK(m.cell.dropout_active());

    tape t;
    var x = input(randn({4, 6}, 1));
    const tensor y = m.drop(x).value();
    CHECK(m.drop.calls() == 1);
    CHECK(max_abs_diff(y, x.value()) > 0.0);
    m.drop.set_calls(0);
    const tensor again = m.drop(x).value();
    CHECK(max_abs_diff(again, y) == 0.0);
    m.eval();
    var z = m.drop(x);
    CHECK(z.index() == x.index());  // the identity: the same var, no node
    CHECK(contains(message_of<argument_error>([] { nn::dropout d(1.0); }), "nn::dropout: p = 1 must be in [0, 1)"));
    CHECK(contains(message_of<argument_error>([] { nn::rnn r({.dropout = -0.5}); }),
                   "nn::rnn: dropout = -0.500000 must be in [0, 1)"));
}

TEST_CASE("bidirectional: a checkpoint round trip restores every direction") {
    nn::lstm a({.input_size = 2, .hidden_size = 3, .num_layers = 2, .return_sequences = true, .seed = 1,
                .bidirectional = true});
    nn::lstm b({.input_size = 2, .hidden_size = 3, .num_layers = 2, .return_sequences = true, .seed = 2,
                .bidirectional = true});
    const std::string path = temp_path("xgrad_bi_ckpt");
    nn::save_checkpoint(path, a);
    const auto report = nn::load_checkpoint(path, b);
    std::filesystem::remove(path);
    CHECK(report.complete());
    CHECK(report.loaded.size() == 16);
    tape t;
    var x = input(randn({2, 4, 2}, 3));
    const tensor ya = a(x).value(), yb = b(x).value();
    CHECK(max_abs_diff(ya, yb) == 0.0);
    // a one-direction model refuses the file, naming the reverse arrays
    nn::lstm c({.input_size = 2, .hidden_size = 3, .num_layers = 2, .return_sequences = true});
    nn::save_checkpoint(path, a);
    const std::string msg = message_of<nn::checkpoint_mismatch_error>([&] { (void)nn::load_checkpoint(path, c); });
    std::filesystem::remove(path);
    CHECK(contains(msg, "weight_ih_l0_reverse"));
}

TEST_CASE("bidirectional: DOT shows both directions, reverse_time and dropout") {
    nn::lstm m({.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true, .dropout = 0.3});
    tape t;
    (void)m(input(randn({2, 3, 2}, 1)));
    const std::string dot = to_dot(t);
    CHECK(contains(dot, "reverse"));
    CHECK(contains(dot, "forward"));
    CHECK(contains(dot, "reverse_time"));
    CHECK(contains(dot, "dropout"));
}

TEST_CASE("bidirectional: forward_chunk carries every direction's state") {
    nn::gru m({.input_size = 2, .hidden_size = 3, .num_layers = 2, .return_sequences = true, .seed = 5,
               .dt = dtype::float64, .bidirectional = true});
    const tensor x1 = randn({2, 3, 2}, 1, dtype::float64), x2 = randn({2, 4, 2}, 2, dtype::float64);
    nn::recurrent_base::carried s;
    tensor y2;
    {
        tape t;
        (void)m.forward_chunk(input(x1), s);
        CHECK(s.h.size() == 4);
        t.clear();
        y2 = m.forward_chunk(input(x2), s).value();
    }
    tape t;
    (void)m(input(x1));
    std::vector<var> h;
    for (const var& v : m.final_h()) {
        const tensor value = v.value();  // a copy: input() records a node, which may move the tape's storage
        h.push_back(input(value));
    }
    const tensor manual = m(input(x2), h).value();
    CHECK(max_abs_diff(y2, manual) == 0.0);
}
