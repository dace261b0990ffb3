// The tutorial's experiment in the library (nn/fit.hpp, nn/models.hpp, nn/optim_factory.hpp): data, a
// tiny fit per cell, frozen parameters, optimizers by name, per-step gradient norms.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include <xgrad/xgrad.hpp>

using namespace xgrad;
using namespace xgrad::nn;

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

TEST_CASE("experiment: fit trains in training mode and evaluates in evaluation mode, then restores the mode") {
    auto train = sum_task(32, 4, 0), test = sum_task(16, 4, 1);
    sequence_regressor model({.cell = "gru", .hidden = 4});
    model.eval();  // left in evaluation mode by the caller
    std::vector<bool> in_batches, in_epochs;
    fit_callbacks cb;
    cb.on_batch = [&](std::size_t, std::size_t, double) { in_batches.push_back(model.is_training()); };
    cb.on_epoch = [&](const epoch_metrics&) { in_epochs.push_back(model.is_training()); };
    fit(model, train, test, {.epochs = 2, .batch_size = 16}, cb);
    CHECK(in_batches == std::vector<bool>(4, true));
    CHECK(in_epochs == std::vector<bool>(2, true));  // evaluate() after each epoch gave training mode back
    CHECK_FALSE(model.is_training());                // the caller's mode again
    model.train();
    evaluate(model, test);
    CHECK(model.is_training());
}

TEST_CASE("experiment: the epoch loss is the mean over samples, a short last batch weighted by its rows") {
    // 40 samples in batches of 32 and 8; lr 0 keeps the model fixed, so the epoch's loss must be the MSE
    // over the whole set: (32·L1 + 8·L2) / 40, as Keras prints it, not (L1 + L2) / 2.
    sequence_regressor model({.cell = "rnn", .hidden = 6, .dt = dtype::float64});
    const auto train = sum_task(40, 4, 3, dtype::float64);
    std::vector<double> running;
    fit_callbacks cb;
    cb.on_batch = [&](std::size_t, std::size_t, double loss) { running.push_back(loss); };
    const auto r = fit(model, train, {}, {.epochs = 1, .batch_size = 32, .optimizer = "sgd", .lr = 0}, cb);
    REQUIRE(running.size() == 2);
    const double whole = evaluate(model, train);
    CHECK(r.history.front().train_loss == doctest::Approx(whole).epsilon(1e-12));
    CHECK(running.back() == doctest::Approx(whole).epsilon(1e-12));
    const double first = running.front(), last = (40 * whole - 32 * first) / 8;  // L1 and L2
    CHECK(std::abs((first + last) / 2 - whole) > 1e-6 * whole);  // the two means differ on this data
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

TEST_CASE("make_optimizer: each name with Keras' defaults and the given learning rate, and unknown names are errors") {
    sequence_regressor model({.hidden = 4});
    for (const char* name : {"sgd", "adam", "adamw", "rmsprop"}) {
        CAPTURE(name);
        auto opt = make_optimizer(name, model, 0.25);
        REQUIRE(opt);
        CHECK(opt->name() == name);
        CHECK(opt->lr() == 0.25);
    }
    CHECK(dynamic_cast<adam&>(*make_optimizer("adam", model, 0.25)).options().eps == adam_options::keras().eps);
    CHECK_THROWS_WITH_AS(make_optimizer("adagrad", model, 0.1), doctest::Contains("unknown optimizer 'adagrad'"),
                         argument_error);
}

TEST_CASE("sequence_regressor: an unknown cell is an error, and step_grad_norms has one finite norm per step") {
    CHECK_THROWS_WITH_AS(sequence_regressor({.cell = "transformer"}), doctest::Contains("unknown cell 'transformer'"),
                         argument_error);
    for (const char* cell : {"rnn", "lstm", "gru"}) {
        CAPTURE(cell);
        sequence_regressor model({.cell = cell, .hidden = 6, .dt = dtype::float64});
        const auto batch = sum_task(4, 7, 2, dtype::float64);
        const auto norms = step_grad_norms(model, batch);
        REQUIRE(norms.size() == 7);
        for (double n : norms) CHECK((std::isfinite(n) && n > 0));
        // the last step's h_T reaches the loss only through the head: ∂L/∂h_T = (∂L/∂y)·W_head
        tape t;
        var y = model(input(batch.x));
        t.backward(mse(y, input(batch.y)));
        CHECK(l2_norm(model.step_outputs().back().grad()) == doctest::Approx(norms.back()).epsilon(1e-12));
    }
}
