#pragma once
// Private helpers for writing ops (not installed): typed access and elementwise loops.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../graph/broadcast.hpp"
#include "../graph/record.hpp"
#include "registry.hpp"

namespace xgrad::kernels {

// Records a node of op `id` with these inputs on the active tape (graph/record.hpp).
inline recorder record(op id, std::initializer_list<var> inputs) {
    return record_op(static_cast<std::uint16_t>(id), op_name(id), inputs);
}
inline recorder record(op id, std::span<const var> inputs) {
    return record_op(static_cast<std::uint16_t>(id), op_name(id), inputs);
}

// Calls f(T{}) with T = float or double for dtype d.
template <class F>
decltype(auto) with_dtype(dtype d, F&& f) {
    if (d == dtype::float32) return f(float{});
    return f(double{});
}

// Normalises a possibly negative axis for a tensor of rank `rank`; throws argument_error.
std::size_t norm_axis(op id, std::int64_t axis, std::size_t rank);

// [outer, n, inner] view of `shape` around `axis`.
struct axis_split {
    std::size_t outer = 1, n = 1, inner = 1;
};
axis_split split_at(const shape_t& shape, std::size_t axis);

// y = f(x) elementwise, raw loop (f: T -> T).
template <class F>
var unary(op id, const var& x, backward_fn rule, F f, const node_attrs& attrs = {}) {
    auto r = record(id, {x});
    r.attrs() = attrs;
    const tensor& a = r.in(0);
    tensor& y = r.out(a.shape(), a.dtype());
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* xp = a.data<T>();
        T* yp = y.data<T>();
        for (std::size_t i = 0, n = a.size(); i < n; ++i) yp[i] = f(xp[i]);
    });
    return r.finish(rule);
}

// Writing a gradient buffer (graph/tape.hpp, grad_buffer): a buffer that holds nothing yet is
// stored into, one that holds this pass's gradient so far is added to. These helpers make that
// choice, so no rule does.

// g[i] (+)= v(i) for every element.
template <class T, class V>
void store_or_add(grad_buffer g, V v) {
    T* __restrict d = g.data<T>();
    const std::size_t n = g.size();
    if (g.fresh())
        for (std::size_t i = 0; i < n; ++i) d[i] = v(i);
    else
        for (std::size_t i = 0; i < n; ++i) d[i] += v(i);
    g.written();
}

// beta for a GEMM that writes every element of g: 0 (store) when g holds nothing yet, else 1 (add).
template <class T>
T gemm_beta(grad_buffer& g) {
    const T beta = g.fresh() ? T(0) : T(1);
    g.written();
    return beta;
}

// dx (+)= g(dy, y, x) elementwise for a unary op.
template <class G>
void unary_grad(backward_ctx& c, G g) {
    if (!c.needs_grad(0)) return;
    with_dtype(c.out.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* __restrict x = c.in(0).data<T>();
        const T* __restrict y = c.out.data<T>();
        const T* __restrict dy = c.grad_out.data<T>();
        store_or_add<T>(c.grad_in(0), [&](std::size_t i) { return g(dy[i], y[i], x[i]); });
    });
}

// A number for a message: short whatever its size ("1e+30", "inf", "0.5"), never 309 digits.
inline std::string number_str(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}

// Whether v is an integer in [0, n), tested in floating point, so that inf, NaN and values beyond
// any integer type are refused before anything converts them (the conversion would be undefined).
template <class T>
bool is_index_below(T v, std::size_t n) {
    return v >= 0 && v == std::floor(v) && static_cast<double>(v) < static_cast<double>(n);
}

// Per-row sequence lengths (ops/sequence.cpp): checks `len` is [batch] of whole numbers >= 0 and returns
// them; shape_error / argument_error name op `id`.
std::vector<std::size_t> read_lengths(op id, const tensor& len, std::size_t batch);

// A 0-d constant of x's dtype (scalar operands of + - * /).
var scalar_like(const var& x, double v);

}  // namespace xgrad::kernels
