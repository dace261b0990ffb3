// Inputs and misuse a careless or hostile user produces: each gives a clear error (or correct
// behaviour), never undefined behaviour, a crash or unbounded memory.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;
using xgrad::testing::contains;
using xgrad::testing::message_of;

TEST_CASE("tapes destroyed out of nesting order leave a live tape active, never a dead one") {
    {
        auto a = std::make_unique<tape>();
        auto b = std::make_unique<tape>();
        a.reset();                          // a dies while b is active: b stays active
        CHECK(&tape::active() == b.get());
        var x = input(tensor::ones({2}, dtype::float64));
        CHECK(sum(x * x).item() == 2.0);    // records on b
        b.reset();
        CHECK(tape::active_or_null() == nullptr);
    }
    {
        std::vector<std::unique_ptr<tape>> tapes;
        for (int i = 0; i < 4; ++i) tapes.push_back(std::make_unique<tape>());
        tapes.back().reset();               // the active one dies: the newest live one (tapes[2]) takes over
        CHECK(&tape::active() == tapes[2].get());
        for (auto& t : tapes) t.reset();    // front to back
        CHECK(tape::active_or_null() == nullptr);
        tape t;                             // and a new one works as usual
        CHECK(sum(input(tensor::ones({3}, dtype::float64))).item() == 3.0);
    }
}

TEST_CASE("a parameter reshaped or cast between forward and backward is refused before any rule runs") {
    for (int change = 0; change < 2; ++change) {
        CAPTURE(change);
        tape t;
        parameter w(randn({4, 3}, 1, dtype::float32), "W");
        var x = input(randn({2, 3}, 2, dtype::float32));
        var loss = sum(tanh(linear(x, w)));
        if (change == 0) w.value() = randn({2, 6}, 3, dtype::float32);
        else w.cast(dtype::float64);
        const std::string msg = message_of<backward_error>([&] { t.backward(loss); });
        CHECK(contains(msg, "'W'"));
        CHECK(contains(msg, "[4, 3] float32"));
        CHECK(contains(msg, change == 0 ? "[2, 6] float32" : "[4, 3] float64"));
        CHECK(contains(msg, "'linear'"));
        CHECK(contains(msg, "forward pass again"));
    }
}

TEST_CASE("shapes whose element count overflows are refused, a zero dimension included") {
    const std::size_t huge = std::size_t(1) << 62;
    auto msg = message_of<shape_error>([&] { (void)tensor::zeros({huge, 4}, dtype::float32); });
    CHECK(contains(msg, "overflows"));
    msg = message_of<shape_error>([&] { (void)tensor::zeros({0, huge, huge}, dtype::float64); });
    CHECK(contains(msg, "overflows"));
    tensor empty = tensor::zeros({0}, dtype::float64);
    msg = message_of<shape_error>([&] { empty.reshape({huge, 4, 0, huge}); });
    CHECK(contains(msg, "overflows"));
    CHECK(element_count({3, 0, 5}, "test") == 0);
    CHECK(element_count({3, 4, 5}, "test") == 60);
}

TEST_CASE("a shape with very many dimensions prints short") {
    shape_t s(100000, 1);
    const std::string str = shape_str(s);
    CHECK(str.size() < 80);
    CHECK(contains(str, "100000 dimensions"));
    CHECK(shape_str({2, 3}) == "[2, 3]");
}

TEST_CASE("the tape generation is 64 bits: a var from 2^32 clears ago is still stale") {
    tape t;
    var x = input(tensor::ones({1}, dtype::float64));
    static_assert(sizeof(t.generation()) == 8);
    t.clear();
    CHECK(x.is_stale());
}

TEST_CASE("indices that no integer type holds (inf, NaN, 1e30, 2^64) are refused by value, not converted") {
    tape t;
    var w = input(randn({5, 2}, 1, dtype::float64));
    const double inf = std::numeric_limits<double>::infinity();
    for (double bad : {inf, -inf, std::nan(""), 1e30, 18446744073709551616.0, 5.0, -1.0, 0.5}) {
        CAPTURE(bad);
        var idx = input(tensor(xt::xarray<double>{1.0, bad}));
        const std::string msg = message_of<argument_error>([&] { (void)embedding(idx, w); });
        CHECK(contains(msg, "embedding"));
        CHECK(contains(msg, "position 1"));
        CHECK(msg.size() < 200);  // 1e30 prints as 1e+30, not 31 digits
        var logits = input(randn({2, 5}, 2, dtype::float64));
        const std::string ce = message_of<argument_error>([&] { (void)cross_entropy(logits, idx); });
        CHECK(contains(ce, "cross_entropy"));
        CHECK(contains(ce, "row 1"));
    }
    const std::string big = message_of<argument_error>(
        [&] { (void)embedding(input(tensor(xt::xarray<double>{1.7976931348623157e308})), w); });
    CHECK(contains(big, "1.797693135e+308"));
}

TEST_CASE("an empty array in an .npz file reads back empty") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("xgrad_hostile_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string path = (dir / "empty.npz").string();
    nn::save_npz(path, {{"a", tensor::zeros({0}, dtype::float64)}, {"b", tensor::zeros({2, 0}, dtype::float32)}});
    const auto arrays = nn::load_npz(path);
    REQUIRE(arrays.size() == 2);
    CHECK(arrays[0].second.size() == 0);
    CHECK(arrays[1].second.shape() == shape_t{2, 0});
    fs::remove_all(dir);
}

TEST_CASE("a file name starting with '-' reaches an external program as a file, never as an option") {
    CHECK(path_argument("-Tsvg.svg") == "./-Tsvg.svg");
    CHECK(path_argument("out/-x.dot") == "out/-x.dot");
    CHECK(path_argument("/tmp/-x.dot") == "/tmp/-x.dot");
    CHECK(path_argument("plain.svg") == "plain.svg");
}

TEST_CASE("impossible optimizer state is refused on load: NaN moments, negative second moments, bad counts") {
    parameter w(randn({3, 2}, 1, dtype::float64), "w");
    nn::adam opt(std::vector<parameter>{w}, nn::adam_options{.lr = 0.1});
    {
        tape t;
        t.backward(sum(square(w.v())));
        opt.step();
    }
    const nn::named_tensors good = opt.state();
    CHECK(opt.check_state(good).empty());
    auto with = [&](const std::string& name, auto change) {
        nn::named_tensors s = good;
        for (auto& [n, v] : s)
            if (n == name) change(v);
        return opt.check_state(s);
    };
    auto says = [](const std::vector<std::string>& problems, const std::string& part) {
        return problems.size() == 1 && contains(problems[0], part);
    };
    CHECK(says(with("adam.m.w", [](tensor& v) { v.set_flat(2, std::nan("")); }), "NaN or infinite"));
    CHECK(says(with("adam.v.w", [](tensor& v) { v.set_flat(1, -0.5); }), "negative"));
    CHECK(opt.check_state(good).empty());
    CHECK(says(with("adam.m.w", [](tensor& v) { v.set_flat(1, -0.5); }), "") == false);  // m may be negative
    CHECK(says(with("adam.step", [](tensor& v) { v.set_flat(0, std::nan("")); }), "whole number"));
    CHECK(says(with("adam.count.w", [](tensor& v) { v.set_flat(0, 1.5); }), "whole number"));
    CHECK(says(with("adam.count.w", [](tensor& v) { v.set_flat(0, -1); }), "whole number"));
    CHECK_THROWS_AS(opt.load_state([&] {
                        nn::named_tensors s = good;
                        for (auto& [n, v] : s)
                            if (n == "adam.v.w") v.set_flat(0, -1);
                        return s;
                    }()),
                    argument_error);
}

TEST_CASE("anomaly mode reports where a NaN already in an input sits: index, and sample, time step, feature") {
    tape t;
    detect_anomaly on;
    tensor x = tensor::zeros({2, 4, 3}, dtype::float64);
    x.set_flat((1 * 4 + 2) * 3 + 0, std::nan(""));  // sample 1, time step 2, feature 0
    var xv = input(x, "x");
    const auto msg = message_of<anomaly_error>([&] { (void)tanh(xv); });
    CHECK(contains(msg, "forward of 'tanh'"));
    CHECK(contains(msg, "its input 0 (the input 'x' [2, 4, 3], node 0) already holds nan at [1, 2, 0]"));
    CHECK(contains(msg, "sample 1, time step 2, feature 0"));
    CHECK(contains(msg, "this op did not make it"));

    // not 3-D: the index alone; -inf named as such
    tensor m = tensor::zeros({3, 2}, dtype::float64);
    m.set_flat(5, -std::numeric_limits<double>::infinity());
    var mv = input(m);
    const auto m_msg = message_of<anomaly_error>([&] { (void)sum(mv); });
    CHECK(contains(m_msg, "already holds -inf at [2, 1]"));
    CHECK(!contains(m_msg, "time step"));

    // an op whose inputs are finite makes the NaN: no input is blamed
    var neg = input(tensor::full({2}, -1.0, dtype::float64));
    const auto own = message_of<anomaly_error>([&] { (void)sqrt(neg); });
    CHECK(contains(own, "forward of 'sqrt'"));
    CHECK(!contains(own, "already holds"));
}

TEST_CASE("anomaly mode: a NaN deep in a huge-rank input is reported in a short message") {
    tape t;
    detect_anomaly on;
    shape_t s(40, 1);
    s.back() = 3;
    tensor x = tensor::zeros(s, dtype::float64);
    x.set_flat(2, std::nan(""));
    var xv = input(x);
    const auto msg = message_of<anomaly_error>([&] { (void)tanh(xv); });
    CHECK(contains(msg, "already holds nan at [0, 0, 0, 0, 0, 0, …, 0, 0, 2] (40 dimensions)"));
    CHECK(msg.size() < 500);
}

TEST_CASE("anomaly mode names the time step of a NaN in a sequence fed to a recurrent model, and a NaN weight") {
    for (const char* cell : {"rnn", "lstm", "gru"}) {
        CAPTURE(cell);
        nn::sequence_regressor model({.cell = cell, .hidden = 4, .input_size = 2, .dt = dtype::float64});
        tape t;
        detect_anomaly on;
        tensor x = tensor::zeros({3, 6, 2}, dtype::float64);
        x.set_flat((2 * 6 + 4) * 2 + 1, std::numeric_limits<double>::infinity());  // sample 2, step 4, feature 1
        const auto msg = message_of<anomaly_error>([&] { (void)model(input(x, "x")); });
        CHECK(contains(msg, "already holds inf at [2, 4, 1] (as [batch, time, features]: sample 2, time step 4, feature 1)"));
    }
    nn::sequence_regressor model({.cell = "rnn", .hidden = 4, .input_size = 2, .dt = dtype::float64});
    model.named_parameters().back().second.value().set_flat(0, std::nan(""));  // head.bias
    tape t;
    detect_anomaly on;
    const auto msg = message_of<anomaly_error>([&] { (void)model(input(tensor::zeros({3, 6, 2}, dtype::float64))); });
    CHECK(contains(msg, "the parameter 'head.bias' [1]"));
    CHECK(contains(msg, "already holds nan at [0]"));
}

TEST_CASE("anomaly mode: an op of very many inputs, one holding a NaN, gets a short message naming that input") {
    tape t;
    detect_anomaly on;
    std::vector<var> xs;
    for (int i = 0; i < 2000; ++i) xs.push_back(input(tensor::zeros({1, 3}, dtype::float64)));
    tensor bad = tensor::zeros({1, 3}, dtype::float64);
    bad.set_flat(2, std::nan(""));
    xs.push_back(input(bad, "x_2000"));
    const auto msg = message_of<anomaly_error>([&] { (void)concat(std::span<const var>(xs), 0); });
    CHECK(contains(msg, "… (2001 inputs)"));
    CHECK(contains(msg, "its input 2000 (the input 'x_2000' [1, 3], node 2000) already holds nan at [0, 2]"));
    CHECK(msg.size() < 600);
}
