// Keras's single recurrent bias (recurrent_options::biases = bias_layout::keras): rnn and lstm with one
// bias_l{l} compute the function of PyTorch's layout with b_ih = b, b_hh = 0, with the same gradient,
// but Adam steps the one parameter once where the pair's sum moves twice; gru keeps two biases.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <unistd.h>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;
using xgrad::testing::contains;
using xgrad::testing::message_of;

namespace {

double largest_diff(const tensor& a, const tensor& b) {
    REQUIRE(a.shape() == b.shape());
    double m = 0;
    for (std::size_t k = 0; k < a.size(); ++k) m = std::max(m, std::abs(a.flat(k) - b.flat(k)));
    return m;
}

// a + sign·b, entry by entry
tensor plus(const tensor& a, const tensor& b, double sign = 1) {
    REQUIRE(a.shape() == b.shape());
    tensor s = tensor::zeros(a.shape(), a.dtype());
    for (std::size_t k = 0; k < s.size(); ++k) s.set_flat(k, a.flat(k) + sign * b.flat(k));
    return s;
}

tensor sum_of(const std::vector<tensor>& terms) {
    tensor s = tensor::zeros(terms.at(0).shape(), terms.at(0).dtype());
    for (const auto& t : terms)
        for (std::size_t k = 0; k < s.size(); ++k) s.set_flat(k, s.flat(k) + t.flat(k));
    return s;
}

nn::recurrent_options opts(std::size_t layers, bool textbook, nn::bias_layout b) {
    nn::recurrent_options o;
    o.input_size = 3;
    o.hidden_size = 4;
    o.num_layers = layers;
    o.textbook = textbook;
    o.seed = 9;
    o.dt = dtype::float64;
    o.biases = b;
    return o;
}

// The keras-layout layer k and the pytorch-layout layer p with k's weights, p.b_ih = k.b (random) and
// p.b_hh = 0.
void pair_up(nn::recurrent_base& k, nn::recurrent_base& p, std::uint64_t seed) {
    rng gen(seed);
    for (std::size_t l = 0; l < k.options().num_layers; ++l) {
        auto& kl = k.layer(l);
        auto& pl = p.layer(l);
        REQUIRE(kl.b.defined());
        REQUIRE(!kl.b_ih.defined());
        REQUIRE(!kl.b_hh.defined());
        REQUIRE(!pl.b.defined());
        // the same seed draws the same weights in both layouts (Keras init draws no bias)
        CHECK(largest_diff(kl.w_ih.value(), pl.w_ih.value()) == 0.0);
        CHECK(largest_diff(kl.w_hh.value(), pl.w_hh.value()) == 0.0);
        CHECK(largest_diff(kl.b.value(), pl.b_ih.value()) == 0.0);  // lstm: both hold the unit forget bias
        parameter b = kl.b, b_ih = pl.b_ih, b_hh = pl.b_hh;
        b.value() = uniform(kl.b.shape(), -0.5, 0.5, gen, dtype::float64);
        b_ih.value() = b.value();
        b_hh.value() = tensor::zeros(b.shape(), dtype::float64);
    }
}

}  // namespace

TEST_CASE("keras bias: one bias gives the loss and gradients of b_ih = b, b_hh = 0, bit for bit") {
    for (const char* cell : {"rnn", "lstm"})
        for (bool textbook : {false, true})
            for (std::size_t layers : {1, 2}) {
                CAPTURE(std::string(cell));
                CAPTURE(textbook);
                CAPTURE(layers);
                auto k = nn::make_recurrent(cell, opts(layers, textbook, nn::bias_layout::keras));
                auto p = nn::make_recurrent(cell, opts(layers, textbook, nn::bias_layout::pytorch));
                pair_up(*k, *p, 21);
                const tensor x = randn({2, 5, 3}, 4, dtype::float64);
                tape t;
                var lk = mean(square(k->forward(input(x), {})));
                var lp = mean(square(p->forward(input(x), {})));
                t.backward(lk);
                t.backward(lp);
                CHECK(lk.item() == lp.item());
                for (std::size_t l = 0; l < layers; ++l) {
                    const auto& kl = k->layer(l);
                    const auto& pl = p->layer(l);
                    CHECK(largest_diff(kl.w_ih.grad(), pl.w_ih.grad()) == 0.0);
                    CHECK(largest_diff(kl.w_hh.grad(), pl.w_hh.grad()) == 0.0);
                    CHECK(largest_diff(kl.b.grad(), pl.b_ih.grad()) == 0.0);
                    CHECK(largest_diff(kl.b.grad(), pl.b_hh.grad()) == 0.0);
                    double g = 0;
                    for (std::size_t j = 0; j < kl.b.grad().size(); ++j) g = std::max(g, std::abs(kl.b.grad().flat(j)));
                    CHECK(g > 1e-3);  // a real gradient, not zeros compared with zeros
                }
            }
}

TEST_CASE("keras bias: one Adam step moves the single bias once and the pair's sum twice") {
    for (const char* cell : {"rnn", "lstm"}) {
        CAPTURE(std::string(cell));
        nn::sequence_regressor_options o{.cell = cell, .hidden = 5, .input_size = 2, .seed = 3, .dt = dtype::float64};
        o.biases = nn::bias_layout::keras;
        nn::sequence_regressor k(o);
        o.biases = nn::bias_layout::pytorch;
        nn::sequence_regressor p(o);
        const std::string c = cell;
        const tensor b0 = k.find(c + ".bias_l0").value();
        const tensor sum0 = plus(p.find(c + ".bias_ih_l0").value(), p.find(c + ".bias_hh_l0").value());
        CHECK(largest_diff(b0, sum0) == 0.0);
        rng gen(5);
        const tensor x = uniform({8, 4, 2}, 0, 1, gen, dtype::float64);
        const tensor y = uniform({8, 1}, 0, 4, gen, dtype::float64);
        const double lr = 1e-3;
        for (nn::sequence_regressor* m : {&k, &p}) {
            nn::adam opt(*m, nn::adam_options::keras());
            tape t;
            var loss = mse((*m)(input(x)), input(y));
            opt.zero_grad();
            t.backward(loss);
            opt.step();
        }
        const tensor step_k = plus(k.find(c + ".bias_l0").value(), b0, -1);
        const tensor step_p =
            plus(plus(p.find(c + ".bias_ih_l0").value(), p.find(c + ".bias_hh_l0").value()), sum0, -1);
        // Adam's first step is lr·g/(|g| + ε) per entry: ±lr where |g| ≫ ε, once for b, once for each of the pair
        double smallest = 1, largest = 0;
        for (std::size_t j = 0; j < step_k.size(); ++j) {
            smallest = std::min(smallest, std::abs(step_k.flat(j)));
            largest = std::max(largest, std::abs(step_k.flat(j)));
            CHECK(std::abs(step_p.flat(j) - 2 * step_k.flat(j)) <= 1e-15);  // to rounding (lstm's forget bias is 1)
        }
        CHECK(largest <= lr * (1 + 1e-12));
        CHECK(smallest >= 0.9 * lr);
        // every weight got the same step in both layouts
        for (const char* w : {".weight_ih_l0", ".weight_hh_l0"})
            CHECK(largest_diff(k.find(c + w).value(), p.find(c + w).value()) == 0.0);
        CHECK(largest_diff(k.find("head.weight").value(), p.find("head.weight").value()) == 0.0);
    }
}

TEST_CASE("keras bias: names, the lstm forget bias, gru and no-bias layers unchanged") {
    using nn::bias_layout;
    {
        auto o = opts(2, false, bias_layout::keras);
        nn::rnn r(o);
        std::vector<std::string> names;
        for (const auto& [n, p] : r.named_parameters()) names.push_back(n);
        CHECK(names == std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_l0", "weight_ih_l1", "weight_hh_l1",
                                                "bias_l1"});
    }
    {
        nn::lstm m(opts(1, false, bias_layout::keras));  // keras init, unit_forget_bias: 1 in the f quarter
        const tensor& b = m.layer(0).b.value();
        REQUIRE(b.size() == 16);
        for (std::size_t j = 0; j < 16; ++j) CHECK(b.flat(j) == (j >= 4 && j < 8 ? 1.0 : 0.0));
    }
    {
        nn::gru g(opts(1, false, bias_layout::keras));  // Keras's GRU (reset_after) has two biases too
        CHECK(g.layer(0).b_ih.defined());
        CHECK(g.layer(0).b_hh.defined());
        CHECK(!g.layer(0).b.defined());
        CHECK(g.named_parameters().size() == 4);
    }
    {
        auto o = opts(1, false, bias_layout::keras);
        o.bias = false;
        nn::rnn r(o);
        CHECK(r.named_parameters().size() == 2);
        CHECK(!r.layer(0).b.defined());
    }
    {
        auto o = opts(1, false, bias_layout::keras);
        o.init = nn::init_style::pytorch;  // U(-1/√H, 1/√H), drawn once
        nn::rnn r(o);
        const tensor& b = r.layer(0).b.value();
        double largest = 0;
        for (std::size_t j = 0; j < b.size(); ++j) largest = std::max(largest, std::abs(b.flat(j)));
        CHECK(largest > 0);
        CHECK(largest <= 0.5);
    }
}

TEST_CASE("keras bias: checkpoints keep the name bias_l0 and refuse the other layout") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("xgrad-keras-bias-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string path = (dir / "k.npz").string();
    nn::sequence_regressor_options o{.cell = "lstm", .hidden = 3, .seed = 1};
    o.biases = nn::bias_layout::keras;
    nn::sequence_regressor a(o);
    {
        rng gen(2);
        for (auto& p : a.parameters()) p.value() = uniform(p.shape(), -1, 1, gen, p.dtype());
    }
    nn::save_checkpoint(path, a);
    std::vector<std::string> names;
    for (const auto& arr : nn::read_npz(path)) names.push_back(arr.name);
    CHECK(std::find(names.begin(), names.end(), "lstm.bias_l0") != names.end());
    CHECK(std::find(names.begin(), names.end(), "lstm.bias_ih_l0") == names.end());
    o.seed = 7;
    nn::sequence_regressor back(o);
    nn::load_checkpoint(path, back);
    const auto pa = a.named_parameters(), pb = back.named_parameters();
    REQUIRE(pa.size() == pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
        CHECK(pa[i].first == pb[i].first);
        CHECK(largest_diff(pa[i].second.value(), pb[i].second.value()) == 0.0);
    }
    o.biases = nn::bias_layout::pytorch;
    nn::sequence_regressor other(o);
    const std::string msg = message_of<nn::checkpoint_error>([&] { nn::load_checkpoint(path, other); });
    CHECK(contains(msg, "lstm.bias_ih_l0"));
    CHECK(contains(msg, "lstm.bias_l0"));
    fs::remove_all(dir);
}

TEST_CASE("keras bias: step_terms of the single bias sum to its gradient in both recordings") {
    for (const char* cell : {"rnn", "lstm"}) {
        CAPTURE(std::string(cell));
        const std::size_t T = 5;
        const tensor x = randn({2, T, 3}, 8, dtype::float64);
        std::vector<tensor> by_recording[2];
        for (bool textbook : {true, false}) {
            CAPTURE(textbook);
            auto k = nn::make_recurrent(cell, opts(1, textbook, nn::bias_layout::keras));
            auto p = nn::make_recurrent(cell, opts(1, textbook, nn::bias_layout::pytorch));
            pair_up(*k, *p, 13);
            tape t;
            t.backward(mean(square(k->forward(input(x), {}))));
            const auto terms = k->step_terms(k->layer(0).b);
            REQUIRE(terms.size() == T);
            CHECK(largest_diff(sum_of(terms), k->layer(0).b.grad()) <= 1e-14);
            std::size_t nonzero = 0;
            for (const auto& term : terms) nonzero += largest_diff(term, tensor::zeros(term.shape(), term.dtype())) > 0;
            CHECK(nonzero == T);  // a term per step
            if (textbook) {  // each step reads b as the two-bias layer's step reads b_ih: the same terms
                tape t2;
                t2.backward(mean(square(p->forward(input(x), {}))));
                const auto pterms = p->step_terms(p->layer(0).b_ih);
                for (std::size_t s = 0; s < T; ++s) CHECK(largest_diff(terms[s], pterms[s]) == 0.0);
            }
            by_recording[textbook ? 0 : 1] = terms;
        }
        for (std::size_t s = 0; s < T; ++s) CHECK(largest_diff(by_recording[0][s], by_recording[1][s]) <= 1e-14);
    }
}
