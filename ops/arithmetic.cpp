// Arithmetic ops. Binary ops broadcast like NumPy: for_each_broadcast walks the output with the
// matching input positions, forward with `=`, backward with `+=` (which sums a broadcast input's
// gradient over the axes it was stretched along).
#include "intrinsics.hpp"  // first: see there
#include <algorithm>

#include "kernels.hpp"
#include "ops.hpp"

namespace xgrad {

using namespace kernels;

namespace {

template <class F>
var binary(op id, const var& a, const var& b, backward_fn rule, F f) {
    auto r = record(id, {a, b});
    const tensor& av = r.in(0);
    const tensor& bv = r.in(1);
    const shape_t shape = broadcast_shapes(op_name(id), av.shape(), bv.shape());
    tensor& out = r.out(shape, av.dtype());
    with_dtype(av.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* ap = av.data<T>();
        const T* bp = bv.data<T>();
        T* yp = out.data<T>();
        if (same_shape(av.shape(), shape) && same_shape(bv.shape(), shape)) {  // same shapes: a loop the compiler vectorises
            const T* __restrict p = ap;
            const T* __restrict q = bp;
            T* __restrict o = yp;
            for (std::size_t i = 0, n = out.size(); i < n; ++i) o[i] = f(p[i], q[i]);
            return;
        }
        for_each_broadcast(shape, av.shape(), bv.shape(),
                           [&](std::size_t o, std::size_t i, std::size_t j) { yp[o] = f(ap[i], bp[j]); });
    });
    return r.finish(rule);
}

// da += fa(dy, a, b), db += fb(dy, a, b), positions matched by broadcasting.
template <class FA, class FB>
void binary_grad(backward_ctx& c, FA fa, FB fb) {
    const tensor& a = c.in(0);
    const tensor& b = c.in(1);
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* ap = a.data<T>();
        const T* bp = b.data<T>();
        const T* dy = c.grad_out.data<T>();
        if (same_shape(a.shape(), c.out.shape()) && same_shape(b.shape(), c.out.shape())) {  // same shapes: vectorisable loops
            const T* __restrict p = ap;
            const T* __restrict q = bp;
            const T* __restrict g = dy;
            if (c.needs_grad(0)) store_or_add<T>(c.grad_in(0), [&](std::size_t i) { return fa(g[i], p[i], q[i]); });
            // after input 0: mul(x, x) adds its second share to the first
            if (c.needs_grad(1)) store_or_add<T>(c.grad_in(1), [&](std::size_t i) { return fb(g[i], p[i], q[i]); });
            return;
        }
        if (c.needs_grad(0)) {
            T* da = c.grad_in(0).for_add().data<T>();
            for_each_broadcast(c.out.shape(), a.shape(), b.shape(),
                               [&](std::size_t o, std::size_t i, std::size_t j) { da[i] += fa(dy[o], ap[i], bp[j]); });
        }
        if (c.needs_grad(1)) {
            T* db = c.grad_in(1).for_add().data<T>();
            for_each_broadcast(c.out.shape(), a.shape(), b.shape(),
                               [&](std::size_t o, std::size_t i, std::size_t j) { db[j] += fb(dy[o], ap[i], bp[j]); });
        }
    });
}

}  // namespace

// y = a + b   da = dy   db = dy
static void add_backward(backward_ctx& c) {
    binary_grad(c, [](auto dy, auto, auto) { return dy; }, [](auto dy, auto, auto) { return dy; });
}
var add(const var& a, const var& b) { return binary(op::add, a, b, add_backward, [](auto u, auto v) { return u + v; }); }

// y = a - b   da = dy   db = -dy
static void sub_backward(backward_ctx& c) {
    binary_grad(c, [](auto dy, auto, auto) { return dy; }, [](auto dy, auto, auto) { return -dy; });
}
var sub(const var& a, const var& b) { return binary(op::sub, a, b, sub_backward, [](auto u, auto v) { return u - v; }); }

// y = a * b   da = dy b   db = dy a
static void mul_backward(backward_ctx& c) {
    binary_grad(c, [](auto dy, auto, auto b) { return dy * b; }, [](auto dy, auto a, auto) { return dy * a; });
}
var mul(const var& a, const var& b) { return binary(op::mul, a, b, mul_backward, [](auto u, auto v) { return u * v; }); }

// y = a / b   da = dy / b   db = -dy a / b²
static void div_backward(backward_ctx& c) {
    binary_grad(c, [](auto dy, auto, auto b) { return dy / b; },
                [](auto dy, auto a, auto b) { return -dy * a / (b * b); });
}
var div(const var& a, const var& b) { return binary(op::div, a, b, div_backward, [](auto u, auto v) { return u / v; }); }

// y = -x   dx = -dy
static void neg_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto, auto) { return -dy; });
}
var neg(const var& x) { return unary(op::neg, x, neg_backward, [](auto v) { return -v; }); }

// y = x^p   dx = dy p x^(p-1)
static void pow_backward(backward_ctx& c) {
    const double p = c.attrs().exponent;
    unary_grad(c, [p](auto dy, auto, auto x) {
        using T = decltype(x);
        return dy * static_cast<T>(p) * static_cast<T>(std::pow(x, static_cast<T>(p - 1)));
    });
}
var pow(const var& x, double p) {
    node_attrs at;
    at.exponent = p;
    return unary(op::pow, x, pow_backward,
                 [p](auto v) { return static_cast<decltype(v)>(std::pow(v, static_cast<decltype(v)>(p))); }, at);
}

// y = e^x   dx = dy y
static void exp_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto y, auto) { return dy * y; });
}
var exp(const var& x) { return unary(op::exp, x, exp_backward, [](auto v) { return std::exp(v); }); }

// y = ln x   dx = dy / x
static void log_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto, auto x) { return dy / x; });
}
var log(const var& x) { return unary(op::log, x, log_backward, [](auto v) { return std::log(v); }); }

// y = √x   dx = dy / (2y)
static void sqrt_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto y, auto) { return dy / (2 * y); });
}
var sqrt(const var& x) { return unary(op::sqrt, x, sqrt_backward, [](auto v) { return std::sqrt(v); }); }

// y = |x|   dx = dy sign(x); subgradient 0 at x = 0 (PyTorch's choice)
static void abs_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto, auto x) { return x > 0 ? dy : (x < 0 ? -dy : decltype(dy)(0)); });
}
var abs(const var& x) { return unary(op::abs, x, abs_backward, [](auto v) { return std::abs(v); }); }

// y = x²   dx = 2 x dy
static void square_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto, auto x) { return 2 * x * dy; });
}
var square(const var& x) { return unary(op::square, x, square_backward, [](auto v) { return v * v; }); }

// y = clamp(x, lo, hi)   dx = dy where lo <= x <= hi (the bounds included, as PyTorch), else 0
static void clamp_backward(backward_ctx& c) {
    const double lo = c.attrs().lo, hi = c.attrs().hi;
    unary_grad(c, [=](auto dy, auto, auto x) { return (x >= lo && x <= hi) ? dy : decltype(dy)(0); });
}
var clamp(const var& x, double lo, double hi) {
    if (!(lo <= hi))
        throw_argument_error(op_name(op::clamp), "lo (" + std::to_string(lo) + ") must not exceed hi (" + std::to_string(hi) + ")");
    node_attrs at;
    at.lo = lo;
    at.hi = hi;
    return unary(op::clamp, x, clamp_backward,
                 [=](auto v) {
                     using T = decltype(v);
                     return std::min(std::max(v, static_cast<T>(lo)), static_cast<T>(hi));
                 },
                 at);
}

var kernels::scalar_like(const var& x, double v) { return constant(tensor::scalar(v, x.dtype())); }

var operator+(const var& a, double b) { return add(a, scalar_like(a, b)); }
var operator+(double a, const var& b) { return add(scalar_like(b, a), b); }
var operator-(const var& a, double b) { return sub(a, scalar_like(a, b)); }
var operator-(double a, const var& b) { return sub(scalar_like(b, a), b); }
var operator*(const var& a, double b) { return mul(a, scalar_like(a, b)); }
var operator*(double a, const var& b) { return mul(scalar_like(b, a), b); }
var operator/(const var& a, double b) { return div(a, scalar_like(a, b)); }
var operator/(double a, const var& b) { return div(scalar_like(b, a), b); }

}  // namespace xgrad
