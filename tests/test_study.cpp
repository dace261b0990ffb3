// The recurrent layers' step outputs (∂L/∂h_t) and `xgrad study`'s engine (cli/study_core.hpp).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"
#include "study_core.hpp"

using namespace xgrad;
using namespace xgrad::cli;

namespace {

std::size_t count_lines(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::size_t n = 0;
    for (std::string line; std::getline(f, line);) ++n;
    return n;
}

}  // namespace

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

TEST_CASE("study: --seeds is a count, a list or a range; bad values are named") {
    CHECK(parse_seeds("3") == std::vector<std::uint64_t>{0, 1, 2});
    CHECK(parse_seeds("4,7") == std::vector<std::uint64_t>{4, 7});
    CHECK(parse_seeds("5..7") == std::vector<std::uint64_t>{5, 6, 7});
    CHECK_THROWS_AS(parse_seeds(""), argument_error);
    CHECK_THROWS_AS(parse_seeds("0"), argument_error);
    CHECK_THROWS_AS(parse_seeds("1,x"), argument_error);
    CHECK_THROWS_AS(parse_seeds("7..5"), argument_error);
    study_options o;
    o.activations = {"tanh", "softplux"};
    CHECK_THROWS_WITH_AS(check_study_options(o), doctest::Contains("softplux"), argument_error);
    o.activations = {"tanh"};
    o.cells = {"rnn"};
    CHECK_THROWS_AS(check_study_options(o), argument_error);
    o.cells = {};
    o.lengths = {};
    CHECK_THROWS_AS(check_study_options(o), argument_error);
}

TEST_CASE("study: a tiny study trains, lowers the tanh loss, measures T gradient norms and writes the CSVs") {
    study_options o;
    o.activations = {"tanh", "sigmoid"};
    o.lengths = {5};
    o.seeds = {0, 1};
    o.epochs = 4;
    o.samples = 64;
    o.hidden = 8;
    o.lr = 0.01;
    const auto r = run_study(o);
    REQUIRE(r.runs.size() == 4);
    for (const auto& run : r.runs) {
        CAPTURE(study_label(run));
        REQUIRE(run.test_curve.size() == 4);
        REQUIRE(run.grad_init.size() == 5);
        REQUIRE(run.grad_trained.size() == 5);
        for (double g : run.grad_init) CHECK((std::isfinite(g) && g > 0));
        CHECK(std::isfinite(run.train_loss));
        if (run.activation == "tanh") CHECK(run.test_curve.back() < run.test_curve.front());
    }
    const auto table = summary_table(r);
    CHECK(table.find("rnn/tanh") != std::string::npos);
    CHECK(table.find("rnn/sigmoid") != std::string::npos);

    const auto dir = std::filesystem::temp_directory_path() / ("xgrad_test_study_" + std::to_string(::getpid()));
    write_study_csvs(r, dir);
    CHECK(count_lines(dir / "summary.csv") == 1 + 4);
    CHECK(count_lines(dir / "gradnorms.csv") == 1 + 2 * 2 * 5);  // 2 models × (init, trained) × T
    CHECK(count_lines(dir / "curves.csv") == 1 + 4 * 4);
    std::ifstream f(dir / "summary.csv");
    std::string header, row;
    std::getline(f, header);
    std::getline(f, row);
    CHECK(header.rfind("activation,cell,T,seed,train_loss,test_loss,epochs_to_target", 0) == 0);
    CHECK(row.rfind("tanh,rnn,5,0,", 0) == 0);
    std::filesystem::remove_all(dir);
}
