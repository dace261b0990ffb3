// Smoke tests of the tutorial experiment (cli/experiment.hpp) and of `xgrad train`'s options.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "experiment.hpp"
#include "train_config.hpp"

using namespace xgrad;
using namespace xgrad::cli;

TEST_CASE("experiment: the sum task's targets are the sums over time, reproducibly") {
    auto a = sum_task(4, 5, 3), b = sum_task(4, 5, 3), c = sum_task(4, 5, 4);
    CHECK(a.x.shape() == shape_t{4, 5, 1});
    CHECK(a.y.shape() == shape_t{4, 1});
    double s = 0;
    for (std::size_t t = 0; t < 5; ++t) s += a.x.flat(5 + t);
    CHECK(a.y.flat(1) == doctest::Approx(s).epsilon(1e-6));
    CHECK(a.x.flat(7) == b.x.flat(7));
    CHECK(a.x.flat(7) != c.x.flat(7));
}

TEST_CASE("experiment: a tiny fit lowers the loss, for each cell, reproducibly") {
    for (const char* cell : {"rnn", "lstm", "gru"}) {
        CAPTURE(cell);
        auto train = sum_task(64, 5, 0), test = sum_task(32, 5, 1);
        auto run = [&] {
            sequence_regressor model({.cell = cell, .hidden = 8});
            const double before = evaluate(model, test);
            auto r = fit(model, train, test, {.epochs = 3, .batch_size = 16, .lr = 0.01});
            REQUIRE(r.history.size() == 3);
            CHECK(r.steps == 12);
            CHECK(r.history.back().test_loss < before);
            CHECK(r.history.back().train_loss < r.history.front().train_loss);
            return r.history.back().test_loss;
        };
        CHECK(run() == run());
    }
}

TEST_CASE("experiment: frozen parameters stay unchanged") {
    sequence_regressor model({.cell = "rnn", .hidden = 8});
    model.freeze("rnn");
    auto before = model.find("rnn.weight_hh_l0").value().to(dtype::float64);
    auto head = model.find("head.weight").value().to(dtype::float64);
    fit(model, sum_task(32, 5, 0), {}, {.epochs = 2, .batch_size = 16});
    auto after = model.find("rnn.weight_hh_l0").value().to(dtype::float64);
    for (std::size_t i = 0; i < before.size(); ++i) CHECK(before.flat(i) == after.flat(i));
    bool moved = false;
    for (std::size_t i = 0; i < head.size(); ++i) moved |= head.flat(i) != model.find("head.weight").value().flat(i);
    CHECK(moved);
}

TEST_CASE("xgrad train: the parser's defaults are the tutorial") {
    CLI::App app;
    train_config c;
    add_train_options(app, c);
    app.parse(std::string{}, false);
    CHECK(c.model.cell == "rnn");
    CHECK(c.model.activation == "tanh");
    CHECK(c.model.hidden == 50);
    CHECK(c.steps == 10);
    CHECK(c.samples == 1000);
    CHECK(c.test_samples == 100);
    CHECK(c.fit.epochs == 20);
    CHECK(c.fit.batch_size == 32);
    CHECK(c.fit.optimizer == "adam");
    CHECK(c.fit.lr == 1e-3);
    CHECK(c.dtype == "float32");

    train_config d;
    CLI::App app2;
    add_train_options(app2, d);
    CHECK_THROWS_AS(app2.parse(std::string{"--cell foo"}, false), CLI::ParseError);
}
