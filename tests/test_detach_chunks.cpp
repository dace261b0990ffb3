// Truncated BPTT across tape.clear(): a detached value outlives its tape, and a recurrent layer's
// carried state (forward_chunk) trains exactly as the documented workaround (copy the final states'
// values out as tensors, feed them back with input()).
#include <doctest/doctest.h>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;

namespace {

constexpr dtype f64 = dtype::float64;

bool bit_equal(const tensor& a, const tensor& b) {
    if (!same_shape(a.shape(), b.shape()) || a.dtype() != b.dtype()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a.flat(i) != b.flat(i)) return false;
    return true;
}

}  // namespace

TEST_CASE("a detached value survives tape.clear() and re-enters the active tape as a constant") {
    tape t;
    parameter W(randn({2, 2}, 3, f64), "W");
    var h = tanh(linear(input(randn({1, 2}, 4, f64)), W));
    const tensor expect = h.value();
    detached d = h.detached_value();
    var on_same = h.detach();
    t.clear();
    CHECK(on_same.is_stale());  // detach() lives on the tape
    CHECK_THROWS_AS(on_same.value(), stale_variable_error);
    var v = d;  // enters the cleared tape's new generation
    CHECK_FALSE(v.is_stale());
    CHECK_FALSE(v.requires_grad());
    CHECK(t.at(v.index()).kind == node_kind::constant);
    CHECK(bit_equal(v.value(), expect));
    CHECK(d.get().index() == v.index());  // one node per generation
    // no gradient flows through it into W
    W.zero_grad();
    t.backward(sum(linear(d.get(), W)));
    CHECK(W.grad().defined());
    t.clear();
    CHECK(d.get().index() == 0);  // a fresh node after the next clear
    {
        tape other;  // another active tape gets its own node
        var o = d;
        CHECK(&o.owner() == &other);
    }
    detached empty;
    CHECK_THROWS_AS(empty.get(), error);
}

TEST_CASE("truncated BPTT over several chunks with forward_chunk equals the tensor workaround bit for bit") {
    const std::size_t T = 12, k = 3, B = 2;
    const tensor x = randn({B, T, 2}, 7, f64), y = randn({B, T, 1}, 8, f64);
    auto y_at = [&](std::size_t step) { return slice(input(y), 1, step, step + 1); };
    auto train = [&](bool carried) {
        nn::lstm cell({.input_size = 2, .hidden_size = 4, .num_layers = 2, .seed = 5, .dt = f64});
        nn::linear head(4, 1, true, nn::init_style::keras, 6, f64);
        std::vector<parameter> params = cell.parameters();
        for (auto& p : head.parameters()) params.push_back(p);
        nn::adam opt(params, {.lr = 1e-2});
        nn::recurrent_base::carried state;  // forward_chunk's
        std::vector<tensor> hs, cs;         // the workaround's
        std::vector<double> losses;
        tape t;
        for (std::size_t start = 0; start + k <= T; start += k) {
            t.clear();
            opt.zero_grad();
            var xk = slice(input(x), 1, start, start + k);
            var out;
            if (carried) {
                out = cell.forward_chunk(xk, state);
            } else {
                std::vector<var> h0, c0;
                for (auto& s : hs) h0.push_back(input(s));
                for (auto& s : cs) c0.push_back(input(s));
                out = cell(xk, h0, c0);
                hs.clear();
                cs.clear();
                for (auto& h : cell.final_h()) hs.push_back(h.value());
                for (auto& c : cell.final_c()) cs.push_back(c.value());
            }
            var loss = mse(head(out), reshape(y_at(start + k - 1), {B, 1}));
            t.backward(loss);
            opt.step();
            losses.push_back(loss.item());
        }
        std::vector<tensor> values;
        for (auto& p : params) values.push_back(p.value());
        return std::make_pair(losses, values);
    };
    const auto a = train(true), b = train(false);
    REQUIRE(a.first.size() == T / k);
    for (std::size_t i = 0; i < a.first.size(); ++i) CHECK(a.first[i] == b.first[i]);
    CHECK(a.first.front() != a.first.back());  // the chunks differ: something was carried and trained
    REQUIRE(a.second.size() == b.second.size());
    for (std::size_t i = 0; i < a.second.size(); ++i) CHECK(bit_equal(a.second[i], b.second[i]));
}

TEST_CASE("forward_chunk carries the state: two chunks give the whole sequence's outputs") {
    nn::gru cell({.input_size = 2, .hidden_size = 3, .return_sequences = true, .seed = 2, .dt = f64});
    const tensor x = randn({2, 6, 2}, 9, f64);
    tape t;
    const tensor whole = cell(input(x)).value();
    nn::recurrent_base::carried s;
    t.clear();
    const tensor first = cell.forward_chunk(slice(input(x), 1, 0, 4), s).value();
    t.clear();
    const tensor second = cell.forward_chunk(slice(input(x), 1, 4, 6), s).value();
    CHECK(s.h.size() == 1);
    CHECK(s.c.empty());
    tape check;
    CHECK(max_abs_diff(concat({constant(first), constant(second)}, 1).value(), whole) < 1e-14);
}
