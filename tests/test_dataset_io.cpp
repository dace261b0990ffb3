// nn/dataset_io.hpp and nn/supervised.hpp: data files read and checked, splits in file order, early
// stopping that keeps the best weights, a task checkpoint that rebuilds its model.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <algorithm>

#include <unistd.h>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;
using xgrad::testing::contains;
using xgrad::testing::message_of;

namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("xgrad_dsio_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::string write(const std::string& name, const std::string& text) {
    const std::string p = temp_path(name);
    std::ofstream(p) << text;
    return p;
}

std::string csv_error(const std::string& text, nn::data_read_options o = {}) {
    const std::string p = write("bad.csv", text);
    return message_of<nn::data_error>([&] { nn::read_csv_dataset(p, o); });
}

}  // namespace

TEST_CASE("dataset_io: a CSV of one sample per line is X [N, T, F] and its last cell the target") {
    const std::string p = write("rows.csv", "a,b,c,d,label\n1,2,3,4,0\n\n5,6,7,8,2\n");
    auto d = nn::read_csv_dataset(p, {.task = nn::task_kind::classify, .features = 2, .dt = dtype::float64});
    REQUIRE(d.x.shape() == shape_t{2, 2, 2});
    CHECK(d.x.flat(5) == 6.0);  // sample 1, step 0, feature 1
    REQUIRE(d.y.shape() == shape_t{2});
    CHECK(d.y.flat(1) == 2.0);
    CHECK(nn::check_labels(d, "x") == 3);
    CHECK(contains(message_of<nn::data_error>([&] { nn::check_labels(d, "test part", 2); }), "label 2 of sample 1 is out of range"));
    nn::labelled_data huge = d;
    huge.y.set_flat(0, 1e30);
    CHECK(contains(message_of<nn::data_error>([&] { nn::check_labels(huge, "f"); }), "label 1e+30 of sample 0 is out of range"));
    auto r = nn::read_csv_dataset(p, {.features = 1});
    CHECK(r.x.shape() == shape_t{2, 4, 1});
    CHECK(r.y.shape() == shape_t{2, 1});
    // prediction: a line of T·F cells has no target
    const std::string q = write("rows_noy.csv", "1,2,3,4\n");
    auto n = nn::read_csv_dataset(q, {.features = 2, .targets_optional = true, .row_inputs = 4});
    CHECK(n.x.shape() == shape_t{1, 2, 2});
    CHECK_FALSE(n.y.defined());
}

TEST_CASE("dataset_io: a CSV of series columns is cut into windows whose target is the next step") {
    const std::string p = write("series.csv", "s,t\n0,10\n1,11\n2,12\n3,13\n4,14\n");
    auto d = nn::read_csv_dataset(p, {.window = 3, .dt = dtype::float64});
    REQUIRE(d.x.shape() == shape_t{2, 3, 2});
    REQUIRE(d.y.shape() == shape_t{2, 2});
    CHECK(d.x.flat(6) == 1.0);   // window 1 starts at line 1
    CHECK(d.y.flat(2) == 4.0);   // window 1's target: line 4
    CHECK(d.y.flat(3) == 14.0);
    auto all = nn::read_csv_dataset(p, {.window = 3, .targets_optional = true});
    CHECK(all.x.shape()[0] == 3);  // the last window forecasts past the end
    CHECK(contains(csv_error("1\n2\n", {.window = 2}), "too few for windows of 2"));
    CHECK(contains(csv_error("1,0\n2,1\n3,0\n", {.task = nn::task_kind::classify, .window = 1}), "classification needs one sample per line"));
}

TEST_CASE("dataset_io: bad CSV cells name the file, line and cell") {
    CHECK(contains(csv_error("1,2,3\n4,5\n"), "line 2: 2 cells, but line 1 has 3"));
    CHECK(contains(csv_error("x,y\n1,2\n3,abc\n"), "line 3, cell 2: 'abc' is not a number"));
    CHECK(contains(csv_error("1,2\nnan,2\n"), "line 2, cell 1: 'nan' is not finite"));
    CHECK(contains(csv_error("1,2,0.5\n", {.task = nn::task_kind::classify}), "label 0.5 is not a class index"));
    CHECK(contains(csv_error("1,2,3,1\n", {.features = 2}), "do not fit 2 features per step"));
    CHECK(contains(csv_error("h\n"), "holds no data lines"));
    CHECK(contains(message_of<nn::data_error>([] { nn::read_csv_dataset(temp_path("none.csv")); }), "cannot open"));
}

TEST_CASE("dataset_io: an npz round trip and every bad array named with its index") {
    nn::labelled_data d;
    d.x = randn({4, 3, 2}, 1, dtype::float64);
    d.y = tensor(xt::xarray<double>{0, 1, 2, 1});
    d.lengths = {3, 3, 3, 3};
    const std::string p = temp_path("ok.npz");
    nn::write_npz_dataset(p, d);
    auto r = nn::read_npz_dataset(p, {.task = nn::task_kind::classify, .dt = dtype::float64});
    CHECK(max_abs_diff(r.x, d.x) == 0.0);
    CHECK(r.y.shape() == shape_t{4});
    CHECK(r.lengths == d.lengths);
    nn::check_lengths(r, "f");

    auto bad = [&](const nn::named_tensors& arrays, nn::task_kind task = nn::task_kind::regress) {
        const std::string q = temp_path("bad.npz");
        nn::save_npz(q, arrays);
        return message_of<nn::data_error>([&] { nn::read_npz_dataset(q, {.task = task}); });
    };
    const tensor X = randn({4, 3, 2}, 1, dtype::float64), y = tensor(xt::xarray<double>{0, 1, 2, 1});
    CHECK(contains(bad({{"y", y}}), "has no array 'X'"));
    CHECK(contains(bad({{"X", randn({4}, 1)}, {"y", y}}), "array 'X' must be [N, T, F]"));
    CHECK(contains(bad({{"X", X}}), "has no array 'y'"));
    CHECK(contains(bad({{"X", X}, {"y", randn({3}, 1)}}), "array 'y' must be [N] or [N, K] targets with N = 4"));
    tensor Xn = X;
    Xn.set_flat(7, std::nan(""));
    CHECK(contains(bad({{"X", Xn}, {"y", y}}), "array 'X' holds nan at [1, 0, 1]"));
    CHECK(contains(bad({{"X", X}, {"y", tensor(xt::xarray<double>{0, 1, -1, 1})}}, nn::task_kind::classify),
                   "array 'y' at [2] holds -1, not a class index"));
    CHECK(contains(bad({{"X", X}, {"y", y}, {"lengths", tensor(xt::xarray<double>{3, 0, 3, 3})}}), "'lengths' at [1] holds 0"));
    CHECK(contains(bad({{"X", X}, {"y", y}, {"lengths", tensor(xt::xarray<double>{3, 3, 4, 3})}}), "'lengths' at [2] holds 4; a length"));
    CHECK(contains(bad({{"X", X}, {"y", y}, {"lengths", tensor(xt::xarray<double>{3, 3})}}), "'lengths' must be [N] with N = 4"));
    nn::labelled_data short_one = r;
    short_one.lengths[3] = 2;
    nn::check_lengths(short_one, "f");  // shorter sequences are masked, not refused
    short_one.lengths[3] = 4;
    CHECK(contains(message_of<nn::data_error>([&] { nn::check_lengths(short_one, "f"); }),
                   "f: lengths[3] = 4; a length must be in [1, T = 3]"));
}

TEST_CASE("dataset_io: split_tail takes the last fraction in file order, as Keras' validation_split") {
    nn::labelled_data d;
    d.x = tensor::zeros({10, 1, 1}, dtype::float64);
    d.y = tensor::zeros({10, 1}, dtype::float64);
    for (std::size_t i = 0; i < 10; ++i) d.x.set_flat(i, double(i));
    auto [a, b] = nn::split_tail(d, 0.25, "--val-split");  // floor(10 · 0.75) = 7 kept
    CHECK(a.size() == 7);
    CHECK(b.size() == 3);
    CHECK(b.x.flat(0) == 7.0);
    CHECK(nn::split_tail(d, 0.01, "--test-split").second.size() == 1);  // Keras: N - int(N · 0.99)
    auto [one, rest] = nn::split_tail(b, 0.34, "x");                       // floor(3 · 0.66) = 1
    CHECK(contains(message_of<nn::data_error>([&] { nn::split_tail(one, 0.5, "--test-split"); }), "leaves nothing before the split"));
    CHECK(contains(message_of<nn::data_error>([&] { nn::split_tail(d, 1.5, "--test-split"); }), "must be a fraction"));
}

TEST_CASE("supervised: a classifier learns, early stopping restores the best weights, the checkpoint rebuilds the model") {
    // class = whether the sum over 4 steps exceeds 2
    const std::size_t N = 64;
    nn::labelled_data d;
    d.x = tensor::zeros({N, 4, 1}, dtype::float64);
    d.y = tensor::zeros({N}, dtype::float64);
    rng gen(3);
    for (std::size_t i = 0; i < N; ++i) {
        double s = 0;
        for (std::size_t t = 0; t < 4; ++t) {
            const double v = gen.uniform();
            d.x.set_flat(i * 4 + t, v);
            s += v;
        }
        d.y.set_flat(i, s > 2 ? 1 : 0);
    }
    nn::task_model_info info{.task = nn::task_kind::classify, .steps = 4, .features = 1, .outputs = 2, .cell = "gru", .hidden = 8,
                             .dt = dtype::float64, .seed = 1};
    nn::sequence_regressor model(nn::task_model_options(info));
    const double before = nn::evaluate_task(model, d, info.task).loss;
    nn::best_weights best(2);
    std::vector<double> losses;
    nn::fit_callbacks cb;
    cb.on_epoch = [&](const nn::epoch_metrics& m) {
        losses.push_back(nn::evaluate_task(model, d, info.task).loss);
        best.observe(losses.back(), m.epoch, model);
    };
    nn::fit(model, {d.x, d.y}, {}, {.epochs = 30, .batch_size = 16, .lr = 1e-2, .loss = nn::task_loss(info.task)}, cb);
    const auto m = nn::evaluate_task(model, d, info.task);
    CHECK(m.loss < before);
    CHECK(m.accuracy > 0.8);
    best.restore(model);
    CHECK(nn::evaluate_task(model, d, info.task).loss == best.best_loss());
    CHECK(best.best_loss() == *std::min_element(losses.begin(), losses.end()));

    const std::string p = temp_path("task.npz");
    nn::save_task_model(p, model, info);
    auto [again, i2] = nn::load_task_model(p);
    CHECK(i2.task == nn::task_kind::classify);
    CHECK(i2.cell == "gru");
    CHECK(i2.outputs == 2);
    CHECK(max_abs_diff(nn::predict_outputs(*again, d.x), nn::predict_outputs(model, d.x)) == 0.0);
    nn::save_npz(p, {{"w", tensor::zeros({1})}});
    CHECK(contains(message_of<nn::checkpoint_error>([&] { nn::load_task_model(p); }), "not an `xgrad train --data` checkpoint"));
}

TEST_CASE("dataset_io: write_text_file replaces a file whole") {
    const std::string p = temp_path("out.csv");
    nn::write_text_file(p, "a\n");
    nn::write_text_file(p, "b,c\n");
    std::ifstream in(p);
    std::string s((std::istreambuf_iterator<char>(in)), {});
    CHECK(s == "b,c\n");
    CHECK_THROWS_AS(nn::write_text_file("/proc/xgrad_no_such_dir/x.csv", "a"), nn::checkpoint_io_error);
}

TEST_CASE("supervised: baselines are exact where they must be") {
    // y = 2·x0 - x1 + 3 over windows of 2 steps: least squares recovers it; persistence predicts x[:, 1]
    nn::labelled_data d;
    d.x = randn({20, 2, 1}, 4, dtype::float64);
    d.y = tensor::zeros({20, 1}, dtype::float64);
    double pers = 0;
    for (std::size_t i = 0; i < 20; ++i) {
        d.y.set_flat(i, 2 * d.x.flat(2 * i) - d.x.flat(2 * i + 1) + 3);
        pers += std::pow(d.x.flat(2 * i + 1) - d.y.flat(i), 2);
    }
    CHECK(nn::least_squares_mse(d, d) < 1e-20);
    CHECK(nn::persistence_mse(d) == doctest::Approx(pers / 20).epsilon(1e-12));
    nn::labelled_data c;
    c.x = d.x;
    c.y = tensor::zeros({20}, dtype::float64);
    for (std::size_t i = 0; i < 20; ++i) c.y.set_flat(i, d.x.flat(2 * i) > 0 ? 1 : (i < 3 ? 2 : 0));
    std::vector<std::size_t> count(3, 0);
    for (std::size_t i = 0; i < 20; ++i) ++count[static_cast<std::size_t>(c.y.flat(i))];
    const double majority = nn::majority_accuracy(c, c);
    CHECK(majority == double(*std::max_element(count.begin(), count.end())) / 20.0);
    CHECK(nn::logistic_regression_accuracy(c, c, 3, 300) >= majority);
}
