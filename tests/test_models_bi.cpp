// sequence_regressor with stacked, bidirectional layers and dropout (num_layers, bidirectional, dropout), and
// `xgrad train --data` checkpoints that record them (nn/supervised.hpp).
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

namespace {

tensor ramp(const shape_t& s, double scale) {
    tensor t = tensor::zeros(s, dtype::float64);
    for (std::size_t i = 0; i < t.size(); ++i) t.set_flat(i, scale * std::sin(0.7 * double(i) + 0.3));
    return t;
}

bool same(const tensor& a, const tensor& b) {
    if (a.shape() != b.shape()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a.flat(i) != b.flat(i)) return false;
    return true;
}

tensor param(const nn::module& m, const std::string& name) {
    for (const auto& [n, p] : m.named_parameters())
        if (n == name) return p.value();
    FAIL("no parameter " << name);
    return {};
}

}  // namespace

TEST_CASE("sequence_regressor bidirectional gives [B, out] and its head reads 2 x hidden") {
    tape t;
    nn::sequence_regressor m({.cell = "lstm", .hidden = 5, .input_size = 3, .output_size = 2, .dt = dtype::float64,
                              .num_layers = 2, .bidirectional = true, .dropout = 0.3});
    const var y = m(input(ramp({4, 6, 3}, 1)));
    CHECK(y.value().shape() == shape_t{4, 2});
    CHECK(param(m, "head.weight").shape() == shape_t{2, 10});
    CHECK(param(m, "lstm.weight_ih_l1_reverse").shape() == shape_t{20, 10});
    // a padded batch: rows of 6, 2, 4, 1 steps
    CHECK(m(input(ramp({4, 6, 3}, 1)), {6, 2, 4, 1}).value().shape() == shape_t{4, 2});
}

TEST_CASE("sequence_regressor defaults are the one-layer one-direction model") {
    tape t;
    nn::sequence_regressor a({.cell = "gru", .hidden = 4, .input_size = 2, .seed = 5, .dt = dtype::float64});
    nn::sequence_regressor b({.cell = "gru", .hidden = 4, .input_size = 2, .seed = 5, .dt = dtype::float64,
                              .num_layers = 1, .bidirectional = false, .dropout = 0});
    CHECK(a.parameters().size() == 6);
    CHECK(param(a, "head.weight").shape() == shape_t{1, 4});
    const tensor x = ramp({3, 5, 2}, 1);
    const tensor ya = a(input(x)).value();  // copies: a later call may move the tape's storage
    const tensor yb = b(input(x)).value();
    CHECK(same(ya, yb));
}

TEST_CASE("sequence_regressor dropout is off in evaluate and seeded in training") {
    const tensor x = ramp({16, 5, 2}, 1), y = ramp({16, 1}, 0.5);
    const auto make = [](std::uint64_t dropout_seed) {
        return nn::sequence_regressor({.cell = "gru", .hidden = 6, .input_size = 2, .seed = 1, .dt = dtype::float64,
                                       .num_layers = 2, .bidirectional = true, .dropout = 0.5,
                                       .dropout_seed = dropout_seed});
    };
    nn::sequence_regressor m = make(7);
    const double e1 = nn::evaluate(m, {x, y}), e2 = nn::evaluate(m, {x, y});
    CHECK(e1 == e2);
    {  // evaluation equals the same weights without dropout
        nn::sequence_regressor none({.cell = "gru", .hidden = 6, .input_size = 2, .seed = 1, .dt = dtype::float64,
                                     .num_layers = 2, .bidirectional = true});
        CHECK(nn::evaluate(none, {x, y}) == e1);
    }
    {  // two training calls draw different masks
        tape t;
        const tensor a = m(input(x)).value();
        const tensor b = m(input(x)).value();
        CHECK_FALSE(same(a, b));
        CHECK(m.cell().dropout_calls() == 2);
    }
    // fit: the same dropout seed gives the same weights, another seed other weights
    nn::sequence_regressor p = make(7), q = make(7), r = make(8);
    const nn::fit_options fo{.epochs = 2, .batch_size = 4};
    nn::fit(p, {x, y}, {}, fo);
    nn::fit(q, {x, y}, {}, fo);
    nn::fit(r, {x, y}, {}, fo);
    const tensor wp = param(p, "head.weight");
    CHECK(same(wp, param(q, "head.weight")));
    CHECK_FALSE(same(wp, param(r, "head.weight")));
    CHECK(nn::evaluate(p, {x, y}) == nn::evaluate(p, {x, y}));
}

TEST_CASE("task checkpoints record layers, directions and dropout, and old ones load as one layer") {
    const auto dir = std::filesystem::temp_directory_path() / ("xgrad_models_bi_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "m.npz").string(), old = (dir / "old.npz").string();
    nn::task_model_info info{.steps = 4, .features = 2, .outputs = 1, .cell = "rnn", .hidden = 3, .layers = 2,
                             .bidirectional = true, .dropout = 0.25};
    nn::sequence_regressor m(nn::task_model_options(info));
    nn::save_task_model(path, m, info);
    auto [back, i] = nn::load_task_model(path);
    CHECK(i.layers == 2);
    CHECK(i.bidirectional);
    CHECK(i.dropout == 0.25);
    CHECK(back->options().num_layers == 2);
    CHECK(back->options().bidirectional);
    CHECK(back->options().dropout == 0.25);
    {  // the same checkpoint of a one-layer model without the new keys: as written before they existed
        nn::task_model_info one = info;
        one.layers = 1;
        one.bidirectional = false;
        one.dropout = 0;
        nn::sequence_regressor m1(nn::task_model_options(one));
        nn::save_task_model(path, m1, one);
        nn::named_tensors kept;
        for (auto& a : nn::read_npz(path))
            if (a.name != "meta.layers" && a.name != "meta.bidirectional" && a.name != "meta.dropout")
                kept.emplace_back(a.name, a.value);
        REQUIRE(kept.size() + 3 == nn::read_npz(path).size());
        nn::save_npz(old, kept);
        auto [again, j] = nn::load_task_model(old);
        CHECK(j.layers == 1);
        CHECK_FALSE(j.bidirectional);
        CHECK(j.dropout == 0);
        CHECK(param(*again, "head.weight").shape() == shape_t{1, 3});
    }
    {  // a dropout of 1 in the metadata is refused, naming the array
        nn::named_tensors bad;
        for (auto& a : nn::read_npz(path)) bad.emplace_back(a.name, a.name == "meta.dropout" ? tensor::scalar(1, dtype::float64) : a.value);
        nn::save_npz(old, bad);
        CHECK_THROWS_WITH_AS(nn::load_task_model(old), doctest::Contains("meta.dropout = 1"), nn::checkpoint_error);
    }
    std::filesystem::remove_all(dir);
}
