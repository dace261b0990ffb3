// Every registered op, gradient-checked in float64 against central differences.
#include <doctest/doctest.h>

#include <set>
#include <xgrad/xgrad.hpp>

using namespace xgrad;

TEST_CASE("every registered op has a gradient check, and every check passes in float64") {
    std::set<op> covered;
    for (const auto& c : op_checks()) covered.insert(c.id);
    for (const auto& e : op_table) {
        CAPTURE(e.name);
        CHECK(covered.count(e.id) == 1);
    }
    for (std::uint64_t seed : {0u, 1u}) {
        for (const auto& c : op_checks()) {
            auto r = run_op_check(c, seed);
            INFO(info(c.id).name, " ", c.label, " seed ", seed, "\n", r.report.str());
            CHECK(r.report.ok);
            CHECK(!r.report.entries.empty());
        }
    }
}

TEST_CASE("gradcheck catches a wrong backward rule") {
    // A custom op whose backward rule is deliberately off by a factor of 2: y = x², rule says dx = 4 x dy.
    constexpr std::uint16_t custom_id = 60000;
    auto wrong_square = [](const var& x) {
        auto r = record_op(custom_id, "wrong_square", {x});
        tensor& y = r.out(r.in(0).shape(), r.in(0).dtype());
        for (std::size_t i = 0; i < y.size(); ++i) y.set_flat(i, r.in(0).flat(i) * r.in(0).flat(i));
        return r.finish([](backward_ctx& c) {
            tensor& g = c.grad_in(0).for_add();
            for (std::size_t i = 0; i < g.size(); ++i)
                g.set_flat(i, g.flat(i) + 4 * c.in(0).flat(i) * c.grad_out.flat(i));
        });
    };
    auto report = gradcheck([&](std::span<const var> in) { return wrong_square(in[0]); },
                            {randn({2, 3}, 5, dtype::float64)});
    CHECK_FALSE(report.ok);
    CHECK(report.entries.at(0).max_abs_error > 1e-3);
    CHECK(report.str().find("MISMATCH") != std::string::npos);
}

TEST_CASE("gradcheck random-direction mode agrees with the full check") {
    auto f = [](std::span<const var> in) { return tanh(matmul(in[0], in[1])); };
    gradcheck_options opt;
    opt.random_direction = true;
    opt.directions = 5;
    auto r = gradcheck(f, {randn({4, 6}, 1, dtype::float64), randn({6, 3}, 2, dtype::float64)}, opt);
    CHECK(r.ok);
    CHECK(r.entries.size() == 2);
    CHECK(r.entries[0].checked == 5);
}

TEST_CASE("gradcheck checks parameters too") {
    parameter w(randn({3, 2}, 3, dtype::float64), "w");
    auto f = [&](std::span<const var> in) { return sigmoid(matmul(in[0], w)); };
    auto r = gradcheck(f, {randn({4, 3}, 4, dtype::float64)}, {w});
    CHECK(r.ok);
    REQUIRE(r.entries.size() == 2);
    CHECK(r.entries[1].what == "param w");
    CHECK_FALSE(w.grad().defined());  // gradients restored as they were
}

TEST_CASE("closed-form derivatives") {
    tape t;
    auto x = input(tensor(xt::xarray<double>{-2.0, -0.3, 0.0, 0.7, 3.0}), {.requires_grad = true});
    SUBCASE("tanh' = 1 - y^2") {
        auto y = tanh(x);
        sum(y).backward();
        for (std::size_t i = 0; i < 5; ++i) {
            const double yi = y.value().flat(i);
            CHECK(x.grad().flat(i) == doctest::Approx(1 - yi * yi).epsilon(1e-14));
        }
    }
    SUBCASE("sigmoid' = y (1 - y)") {
        auto y = sigmoid(x);
        sum(y).backward();
        for (std::size_t i = 0; i < 5; ++i) {
            const double yi = y.value().flat(i);
            CHECK(yi == doctest::Approx(1 / (1 + std::exp(-x.value().flat(i)))).epsilon(1e-14));
            CHECK(x.grad().flat(i) == doctest::Approx(yi * (1 - yi)).epsilon(1e-14));
        }
    }
    SUBCASE("relu' is 0 at 0 and 1 above") {
        auto y = relu(x);
        sum(y).backward();
        CHECK(x.grad().flat(1) == 0.0);
        CHECK(x.grad().flat(2) == 0.0);
        CHECK(x.grad().flat(3) == 1.0);
    }
}

TEST_CASE("softmax rows sum to 1 and log_softmax is its log") {
    tape t;
    auto x = input(randn({4, 7}, 9, dtype::float64)) * 10.0;
    auto s = softmax(x);
    auto ls = log_softmax(x);
    for (std::size_t r = 0; r < 4; ++r) {
        double total = 0;
        for (std::size_t k = 0; k < 7; ++k) {
            total += s.value().flat(r * 7 + k);
            CHECK(std::log(s.value().flat(r * 7 + k)) == doctest::Approx(ls.value().flat(r * 7 + k)).epsilon(1e-12));
        }
        CHECK(total == doctest::Approx(1.0).epsilon(1e-14));
    }
    // stable for huge logits
    auto big = input(tensor(xt::xarray<float>{{1000.f, 0.f, -1000.f}}));
    auto sb = softmax(big);
    CHECK(all_finite(sb.value()));
    CHECK(sb.value().flat(0) == doctest::Approx(1.0));
}

#include <fstream>
#include <sstream>

TEST_CASE("docs/ops.md is the registry's own table") {
    std::ifstream f(std::string(XGRAD_SOURCE_DIR) + "/docs/ops.md");
    REQUIRE(f.good());
    std::stringstream s;
    s << f.rdbuf();
    CHECK(s.str() == op_table_markdown());  // regenerate with: xgrad ops --markdown > docs/ops.md
}
