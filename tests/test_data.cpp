// Data helpers: seeded shuffles, batches that cover every sample once, the last partial batch,
// train/test split, sliding windows over a time series.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

namespace {
// x row i = [i, 100 + i], y row i = [-i]: a batch's rows tell which samples it holds.
tensor rows_x(std::size_t n) {
    tensor t = tensor::zeros({n, 2}, dtype::float64);
    for (std::size_t i = 0; i < n; ++i) {
        t.set_flat(2 * i, static_cast<double>(i));
        t.set_flat(2 * i + 1, 100.0 + static_cast<double>(i));
    }
    return t;
}
tensor rows_y(std::size_t n) {
    tensor t = tensor::zeros({n, 1}, dtype::float32);
    for (std::size_t i = 0; i < n; ++i) t.set_flat(i, -static_cast<double>(i));
    return t;
}
std::vector<std::vector<std::size_t>> epoch_of(nn::data_loader& d) {
    std::vector<std::vector<std::size_t>> out;
    for (nn::batch b; d.next(b);) {
        for (std::size_t r = 0; r < b.index.size(); ++r) {
            CHECK(b.x.flat(2 * r) == static_cast<double>(b.index[r]));
            CHECK(b.x.flat(2 * r + 1) == 100.0 + static_cast<double>(b.index[r]));
            CHECK(b.y.flat(r) == -static_cast<double>(b.index[r]));
        }
        out.push_back(b.index);
    }
    return out;
}
}  // namespace

TEST_CASE("batches cover every sample exactly once per epoch and keep the last partial batch") {
    nn::data_loader d(rows_x(10), rows_y(10), {.batch_size = 4, .seed = 3});
    CHECK(d.batches_per_epoch() == 3);
    for (int e = 1; e <= 3; ++e) {
        const auto batches = epoch_of(d);
        CHECK(d.epoch() == static_cast<std::uint64_t>(e));
        REQUIRE(batches.size() == 3);
        CHECK(batches[0].size() == 4);
        CHECK(batches[2].size() == 2);  // 10 = 4 + 4 + 2
        std::vector<std::size_t> all;
        for (auto& b : batches) all.insert(all.end(), b.begin(), b.end());
        std::sort(all.begin(), all.end());
        std::vector<std::size_t> want(10);
        std::iota(want.begin(), want.end(), std::size_t{0});
        CHECK(all == want);
    }
    nn::data_loader drop(rows_x(10), rows_y(10), {.batch_size = 4, .drop_last = true});
    CHECK(drop.batches_per_epoch() == 2);
    CHECK(epoch_of(drop).size() == 2);
}

TEST_CASE("the shuffle is reproducible from the seed, changes every epoch, and can be turned off") {
    nn::data_loader a(rows_x(50), rows_y(50), {.batch_size = 8, .seed = 11});
    nn::data_loader b(rows_x(50), rows_y(50), {.batch_size = 8, .seed = 11});
    nn::data_loader c(rows_x(50), rows_y(50), {.batch_size = 8, .seed = 12});
    const auto a1 = epoch_of(a), a2 = epoch_of(a);
    CHECK(a1 == epoch_of(b));
    CHECK(a2 == epoch_of(b));
    CHECK(a1 != a2);
    CHECK(a1 != epoch_of(c));
    rng gen(11);
    const auto p = nn::permutation(50, gen);
    CHECK(std::vector<std::size_t>(p.begin(), p.begin() + 8) == a1[0]);  // epoch 1 = permutation(n, rng(seed))
    nn::data_loader plain(rows_x(5), rows_y(5), {.batch_size = 2, .shuffle = false});
    CHECK(epoch_of(plain) == std::vector<std::vector<std::size_t>>{{0, 1}, {2, 3}, {4}});
}

TEST_CASE("data_loader checks its inputs, and batches reuse their buffers") {
    CHECK_THROWS_AS(nn::data_loader(rows_x(5), rows_y(4)), argument_error);
    CHECK_THROWS_AS(nn::data_loader(rows_x(5), rows_y(5), {.batch_size = 0}), argument_error);
    nn::data_loader d(rows_x(9), tensor(), {.batch_size = 3, .shuffle = false});
    nn::batch b;
    REQUIRE(d.next(b));
    CHECK(!b.y.defined());
    const double* buf = b.x.data<double>();
    REQUIRE(d.next(b));
    CHECK(b.x.data<double>() == buf);
    CHECK(b.x.shape() == shape_t{3, 2});
}

TEST_CASE("train_test_split: sizes, disjoint cover, seeded shuffle, ordered split for time series") {
    const auto s = nn::train_test_split(rows_x(10), rows_y(10), {.test_fraction = 0.25, .seed = 4});
    CHECK(s.x_train.shape() == shape_t{7, 2});
    CHECK(s.x_test.shape() == shape_t{3, 2});  // ceil(2.5)
    std::set<double> seen;
    for (const tensor* t : {&s.x_train, &s.x_test})
        for (std::size_t r = 0; r < t->shape()[0]; ++r) seen.insert(t->flat(2 * r));
    CHECK(seen.size() == 10);
    for (std::size_t r = 0; r < 3; ++r) CHECK(s.y_test.flat(r) == -s.x_test.flat(2 * r));  // pairs kept together
    const auto again = nn::train_test_split(rows_x(10), rows_y(10), {.test_fraction = 0.25, .seed = 4});
    CHECK(max_abs_diff(s.x_test, again.x_test) == 0.0);
    const auto ordered = nn::train_test_split(rows_x(10), tensor(), {.test_fraction = 0.2, .shuffle = false});
    CHECK(ordered.x_test.flat(0) == 8.0);
    CHECK(ordered.x_test.flat(2) == 9.0);
    CHECK(!ordered.y_test.defined());
    CHECK_THROWS_AS(nn::train_test_split(rows_x(3), rows_y(3), {.test_fraction = 0.9}), argument_error);
}

TEST_CASE("make_windows produces the right (x, y) pairs") {
    // Series 0, 1, ..., 9 (one feature): windows of 3 predicting the next 2, stride 2.
    tensor s = tensor::zeros({10}, dtype::float32);
    for (std::size_t i = 0; i < 10; ++i) s.set_flat(i, static_cast<double>(i));
    const auto w = nn::make_windows(s, {.window = 3, .horizon = 2, .stride = 2});
    // Starts 0, 2, 4 (a start of 6 would need steps up to 10).
    REQUIRE(w.x.shape() == shape_t{3, 3, 1});
    REQUIRE(w.y.shape() == shape_t{3, 2});
    for (std::size_t i = 0; i < 3; ++i) {
        for (std::size_t k = 0; k < 3; ++k) CHECK(w.x.flat(i * 3 + k) == static_cast<double>(2 * i + k));
        CHECK(w.y.flat(i * 2) == static_cast<double>(2 * i + 3));
        CHECK(w.y.flat(i * 2 + 1) == static_cast<double>(2 * i + 4));
    }
    // Two features, horizon 1: y is the next row.
    tensor s2 = tensor::zeros({5, 2}, dtype::float64);
    for (std::size_t i = 0; i < 10; ++i) s2.set_flat(i, static_cast<double>(i));
    const auto w2 = nn::make_windows(s2, {.window = 2});
    REQUIRE(w2.x.shape() == shape_t{3, 2, 2});
    REQUIRE(w2.y.shape() == shape_t{3, 2});
    CHECK(w2.x.flat(4) == 2.0);  // window 1 starts at row 1 = [2, 3]
    CHECK(w2.y.flat(0) == 4.0);  // after window 0 (rows 0, 1) comes row 2 = [4, 5]
    CHECK(w2.y.flat(1) == 5.0);
    CHECK_THROWS_AS(nn::make_windows(s, {.window = 9, .horizon = 2}), argument_error);
}
