// `xgrad train`'s option parser (cli/train.cpp): its defaults are the tutorial's experiment.
#include <doctest/doctest.h>

#include <string>

#include "train_config.hpp"

using namespace xgrad;
using namespace xgrad::cli;

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
