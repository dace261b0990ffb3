// The engine's generic mechanisms, seen from outside: a parameter's gradient-complete hook (run when
// the sweep reaches its leaf, with the gradient final), leaf finishers, and derived state that follows
// an in-place update of the value row by row.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;

namespace {

// A copy of the values of t (as doubles).
std::vector<double> values(const tensor& t) {
    std::vector<double> v(t.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = t.flat(i);
    return v;
}

}  // namespace

TEST_CASE("gradient-complete hooks: once per sweep, the gradient already final, in reverse leaf order") {
    for (dtype d : {dtype::float32, dtype::float64}) {
        CAPTURE(dtype_name(d));
        // hidden 128: W_hh [128, 128] is used at every step, so its dW is summed when the sweep reaches
        // its leaf (a leaf finisher), and the hook must come after that sum
        nn::rnn cell({.input_size = 3, .hidden_size = 128, .seed = 2, .dt = d});
        nn::linear head(128, 1, true, nn::init_style::keras, 3, d);
        std::vector<std::string> order;
        std::vector<std::pair<std::string, std::vector<double>>> seen;
        tape t;
        const tensor x = randn({4, 6, 3}, 9, d);
        var xin = input(x, {.requires_grad = true});  // node 0: its gradient comes last of all
        bool x_reached_at_w_hh = true;
        auto params = cell.named_parameters();
        for (auto& [name, p] : head.named_parameters()) params.emplace_back("head." + name, p);
        for (auto& [name, p] : params)
            p.add_grad_hook([&order, &seen, name = name](parameter& q) {
                order.push_back(name);
                seen.emplace_back(name, values(q.grad()));
            });
        // W_hh's hook runs mid-sweep: the input projection, which alone reads x, runs after it
        parameter w_hh = cell.layer(0).w_hh;  // a handle to the same state
        w_hh.add_grad_hook([&](parameter&) { x_reached_at_w_hh = xin.grad().defined(); });
        var loss = mean(square(head(cell(xin))));
        t.backward(loss);
        REQUIRE(order.size() == params.size());
        CHECK_FALSE(x_reached_at_w_hh);
        CHECK(xin.grad().defined());
        // every hook saw the gradient as it is after the whole sweep, bit for bit
        for (auto& [name, p] : params) {
            auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == name; });
            REQUIRE(it != seen.end());
            CHECK(it->second == values(p.grad()));
        }
        // leaves made later (the head's) complete first: the sweep runs in reverse creation order
        std::vector<std::pair<std::uint32_t, std::string>> by_leaf;
        for (auto& [name, p] : params) by_leaf.emplace_back(p.v().index(), name);
        std::sort(by_leaf.rbegin(), by_leaf.rend());
        for (std::size_t i = 0; i < by_leaf.size(); ++i) CHECK(order[i] == by_leaf[i].second);

        // a second sweep accumulates, and the hooks run again with the sum
        order.clear();
        seen.clear();
        t.backward(loss);
        CHECK(order.size() == params.size());
        for (auto& [name, p] : params) {
            auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == name; });
            CHECK(it->second == values(p.grad()));
        }
    }
}

TEST_CASE("gradient-complete hooks: removed, frozen or unreached parameters are not called") {
    tape t;
    parameter a(randn({3}, 1, dtype::float64), "a");
    parameter b(randn({3}, 2, dtype::float64), "b");
    parameter c(randn({3}, 3, dtype::float64), "c");
    int na = 0, nb = 0, nc = 0;
    const std::size_t ia = a.add_grad_hook([&](parameter&) { ++na; });
    b.add_grad_hook([&](parameter&) { ++nb; });
    c.add_grad_hook([&](parameter&) { ++nc; });
    b.set_requires_grad(false);
    var used = sum(a * b);
    var other = sum(c);  // c's leaf is on the tape, but the sweep from `used` never reaches it
    (void)other;
    t.backward(used);
    CHECK(na == 1);
    CHECK(nb == 0);
    CHECK(nc == 0);
    a.remove_grad_hook(ia);
    t.backward(used);
    CHECK(na == 1);
}

namespace {
const tensor* g_dy = nullptr;  // the custom op's dY, for its finisher
int g_finished = 0;
// Adds 3·dY into the leaf's gradient: the whole backward of y = 3w, done at the leaf.
void add_three_dy(tape& tp, std::uint32_t leaf) {
    ++g_finished;
    tensor& g = tp.grad_buffer_of(leaf).for_add();
    for (std::size_t i = 0; i < g.size(); ++i) g.set_flat(i, g.flat(i) + 3 * g_dy->flat(i));
}
}  // namespace

TEST_CASE("leaf finishers run once per sweep when the leaf is reached, before its gradient hooks") {
    tape t;
    parameter w(tensor(xt::xarray<double>{1.0, 2.0}), "w");
    g_finished = 0;
    std::vector<double> at_hook;
    w.add_grad_hook([&](parameter& p) { at_hook = values(p.grad()); });
    // A custom op y = 3w whose rule hands its write to a leaf finisher, registering it twice.
    auto r = record_op(60002, "triple_at_leaf", {w.v()});
    tensor& out = r.out(r.in(0).shape(), r.in(0).dtype());
    for (std::size_t i = 0; i < out.size(); ++i) out.set_flat(i, 3 * r.in(0).flat(i));
    var y3 = r.finish([](backward_ctx& c) {
        g_dy = &c.grad_out;
        c.grad_in(0);  // reached; written by the finisher
        CHECK(c.finish_at_leaf(0, add_three_dy));
        CHECK_FALSE(c.finish_at_leaf(0, add_three_dy));  // once per sweep
    });
    var y = sum(y3);
    t.backward(y);
    CHECK(g_finished == 1);
    CHECK(at_hook == std::vector<double>{3.0, 3.0});
    CHECK(values(w.grad()) == std::vector<double>{3.0, 3.0});
    w.zero_grad();
    t.backward(y);
    CHECK(g_finished == 2);
    CHECK(values(w.grad()) == std::vector<double>{3.0, 3.0});
}

namespace {
// Derived state that mirrors the value (doubled), kept current through in-place updates.
class doubled final : public derived_state {
public:
    std::vector<double> copy;
    std::uint64_t version = ~std::uint64_t{0};
    std::vector<std::pair<std::size_t, std::size_t>> strips;
    std::size_t begin_update(const param_state& p) override { return version == p.version ? 2 : 0; }
    void rows_updated(const param_state& p, std::size_t r0, std::size_t r1) override {
        strips.emplace_back(r0, r1);
        const std::size_t cols = p.value.shape()[1];
        for (std::size_t i = r0 * cols; i < r1 * cols; ++i) copy[i] = 2 * p.value.flat(i);
    }
    void end_update(const param_state& p) override { version = p.version; }
    void rebuild(const param_state& p) {
        copy.resize(p.value.size());
        for (std::size_t i = 0; i < copy.size(); ++i) copy[i] = 2 * p.value.flat(i);
        version = p.version;
    }
};
}  // namespace

TEST_CASE("derived state follows update_in_place row by row, and any other change leaves it stale") {
    parameter w(randn({5, 3}, 4, dtype::float64), "w");
    param_state& s = *w.state_ptr();
    s.derived = std::make_unique<doubled>();
    auto& d = static_cast<doubled&>(*s.derived);
    d.rebuild(s);
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    w.update_in_place<double>([&](double* v, std::size_t b, std::size_t e) {
        ranges.emplace_back(b, e);
        for (std::size_t i = b; i < e; ++i) v[i] += 1;
    });
    // rows in strips of 2: elements [0, 6), [6, 12), [12, 15)
    CHECK(ranges == std::vector<std::pair<std::size_t, std::size_t>>{{0, 6}, {6, 12}, {12, 15}});
    CHECK(d.strips == std::vector<std::pair<std::size_t, std::size_t>>{{0, 2}, {2, 4}, {4, 5}});
    CHECK(d.version == s.version);
    for (std::size_t i = 0; i < 15; ++i) CHECK(d.copy[i] == 2 * s.value.flat(i));  // (w.value() would be a mutable access)

    // a new leaf after an in-place update keeps the version: the derived state stays current
    const std::uint64_t v0 = s.version;
    {
        tape t;
        (void)w.v();
    }
    CHECK(s.version == v0);
    // ... but a second new leaf (no update in between) or a mutable access moves it on
    {
        tape t;
        (void)w.v();
    }
    CHECK(s.version != v0);
    const std::uint64_t v1 = s.version;
    (void)w.value();
    CHECK(s.version != v1);
    CHECK(d.version != s.version);
    // stale derived state is not refreshed by an update (begin_update returns 0: all in one range)
    ranges.clear();
    d.strips.clear();
    w.update_in_place<double>([&](double*, std::size_t b, std::size_t e) { ranges.emplace_back(b, e); });
    CHECK(ranges.size() == 1);
    CHECK(d.strips.empty());
}
