// PyTorch parity: weights exported from torch.nn.RNN / LSTM / GRU (float64, batch_first) load
// unchanged into xgrad's layers and reproduce PyTorch's outputs and gradients to 1e-10.
// The arrays were written once by tests/fixtures/make_pytorch_fixture.py (torch 1.13, Debian's
// python3-torch); this test only reads the .npy files, it needs no PyTorch.
#include <doctest/doctest.h>

#include <string>

#include <xtensor/xnpy.hpp>

#include <xgrad/xgrad.hpp>

using namespace xgrad;
namespace nn = xgrad::nn;

namespace {
tensor load(const std::string& model, const std::string& name) {
    const std::string path = std::string(XGRAD_TEST_DATA) + "/pytorch/" + model + "." + name + ".npy";
    return tensor(xt::xarray<double>(xt::load_npy<double>(path)));
}

nn::recurrent_options fixture_options(std::size_t layers) {
    nn::recurrent_options o;
    o.input_size = 3;
    o.hidden_size = 4;
    o.num_layers = layers;
    o.return_sequences = true;
    o.dt = dtype::float64;
    return o;
}

// Loads the model's parameters by PyTorch name, runs L = Σ y ⊙ R, and compares y and every gradient.
template <class Layer>
void check_parity(Layer& m, const std::string& model) {
    for (auto& [name, p] : m.named_parameters()) {
        tensor v = load(model, name);
        REQUIRE_MESSAGE(v.shape() == p.shape(), model << "." << name << ": " << shape_str(v.shape()) << " vs "
                                                      << shape_str(p.shape()));
        p.value() = std::move(v);
        p.zero_grad();
    }
    tape t;
    var x = input(load(model, "input"), {.requires_grad = true, .name = "x"});
    var y = m(x);
    const tensor expected = load(model, "output");
    REQUIRE(y.shape() == expected.shape());
    CHECK(max_abs_diff(y.value(), expected) < 1e-10);
    var loss = sum(y * input(load(model, "weights")));
    t.backward(loss);
    CHECK(max_abs_diff(x.grad(), load(model, "grad.input")) < 1e-10);
    for (auto& [name, p] : m.named_parameters()) {
        CAPTURE(name);
        const double err = max_abs_diff(p.grad(), load(model, "grad." + name));
        CHECK(err < 1e-10);
    }
    // the comparison is not vacuous: gradients are of order one
    double biggest = 0;
    const tensor g = load(model, "grad.weight_hh_l0");
    for (std::size_t i = 0; i < g.size(); ++i) biggest = std::max(biggest, std::abs(g.flat(i)));
    CHECK(biggest > 1e-2);
}
}  // namespace

TEST_CASE("pytorch parity: RNN tanh, 1 layer") {
    nn::rnn m(fixture_options(1));
    check_parity(m, "rnn_tanh");
}

TEST_CASE("pytorch parity: RNN relu, 2 layers") {
    auto o = fixture_options(2);
    o.activation = "relu";
    nn::rnn m(o);
    check_parity(m, "rnn_relu");
}

TEST_CASE("pytorch parity: LSTM, 2 layers (gates i, f, g, o)") {
    nn::lstm m(fixture_options(2));
    check_parity(m, "lstm");
}

TEST_CASE("pytorch parity: GRU, 2 layers (gates r, z, n, with r inside n's recurrent term)") {
    nn::gru m(fixture_options(2));
    check_parity(m, "gru");
}

TEST_CASE("pytorch parity: the loading loop of docs/pytorch-weights.md") {
    const std::string dir = std::string(XGRAD_TEST_DATA) + "/pytorch/";
    // As in the docs, with the fixture's folder in front of the file names.
    nn::lstm lstm({.input_size = 3, .hidden_size = 4, .num_layers = 2, .return_sequences = true,
                   .dt = dtype::float64});
    for (auto& [name, p] : lstm.named_parameters()) {
        tensor v(xt::xarray<double>(xt::load_npy<double>(dir + "lstm." + name + ".npy")));
        if (v.shape() != p.shape()) throw shape_error(name + ": " + shape_str(v.shape()) + " vs " + shape_str(p.shape()));
        p.value() = v.to(p.dtype());  // parameters are handles: this changes the layer's weight
    }
    tape t;
    var y = lstm(input(load("lstm", "input")));
    CHECK(max_abs_diff(y.value(), load("lstm", "output")) < 1e-10);
    CHECK(lstm.final_h().size() == 2);
    // PyTorch's h_n of the top layer is the last step of its output
    CHECK(max_abs_diff(lstm.final_h()[1].value(), select(y, 1, 4).value()) == 0.0);
}
