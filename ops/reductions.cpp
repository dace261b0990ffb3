// Reductions: sum and mean (over everything, or along one axis with keepdims) and max along an
// axis. Along an axis a tensor is read as [outer, n, inner] (see kernels::split_at).
#include <limits>

#include "kernels.hpp"
#include "ops.hpp"

namespace xgrad {

using namespace kernels;

namespace {

// s without `axis`, or with it as 1 when keepdims.
shape_t reduced_shape(const shape_t& s, std::size_t axis, bool keepdims) {
    shape_t out;
    for (std::size_t k = 0; k < s.size(); ++k) {
        if (k != axis) out.push_back(s[k]);
        else if (keepdims) out.push_back(1);
    }
    return out;
}

}  // namespace

// sum and mean; attrs: whole (every element) or axis, and scale (1 for sum, 1/n for mean)
// y = scale Σ_axis x   dx = scale broadcast(dy)
static void sum_backward(backward_ctx& c) {
    if (!c.needs_grad(0)) return;
    const tensor& x = c.in(0);
    tensor& gx = c.grad_in(0).for_add();
    const double scale = c.attrs().scale;
    with_dtype(x.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* dy = c.grad_out.data<T>();
        T* dx = gx.data<T>();
        const T s = static_cast<T>(scale);
        if (c.attrs().whole) {
            for (std::size_t i = 0, n = gx.size(); i < n; ++i) dx[i] += s * dy[0];
            return;
        }
        const auto sp = split_at(x.shape(), static_cast<std::size_t>(c.attrs().axis));
        for (std::size_t o = 0; o < sp.outer; ++o)
            for (std::size_t k = 0; k < sp.n; ++k)
                for (std::size_t i = 0; i < sp.inner; ++i)
                    dx[(o * sp.n + k) * sp.inner + i] += s * dy[o * sp.inner + i];
    });
}

static var reduce_all(op id, const var& x, bool is_mean) {
    auto r = record(id, {x});
    const tensor& a = r.in(0);
    const std::size_t n = a.size();
    if (is_mean && n == 0) throw_argument_error(op_name(id), "mean of an empty tensor");
    r.attrs().whole = true;
    r.attrs().scale = is_mean ? 1.0 / static_cast<double>(n) : 1.0;
    tensor& y = r.out(shape_t{}, a.dtype());
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* p = a.data<T>();
        double acc = 0;  // accumulate in double: float32 sums of many terms stay accurate
        for (std::size_t i = 0; i < n; ++i) acc += p[i];
        y.data<T>()[0] = static_cast<T>(acc * r.attrs().scale);
    });
    return r.finish(sum_backward);
}

static var reduce_axis(op id, const var& x, std::int64_t axis, bool keepdims, bool is_mean) {
    auto r = record(id, {x});
    const tensor& a = r.in(0);
    const std::size_t ax = norm_axis(id, axis, a.dim());
    const auto sp = split_at(a.shape(), ax);
    if (is_mean && sp.n == 0) throw_argument_error(op_name(id), "mean over an empty axis");
    r.attrs().axis = static_cast<std::int64_t>(ax);
    r.attrs().scale = is_mean ? 1.0 / static_cast<double>(sp.n) : 1.0;
    tensor& y = r.out(reduced_shape(a.shape(), ax, keepdims), a.dtype());
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* p = a.data<T>();
        T* q = y.data<T>();
        const T s = static_cast<T>(r.attrs().scale);
        for (std::size_t i = 0; i < sp.outer * sp.inner; ++i) q[i] = 0;
        for (std::size_t o = 0; o < sp.outer; ++o)
            for (std::size_t k = 0; k < sp.n; ++k)
                for (std::size_t i = 0; i < sp.inner; ++i) q[o * sp.inner + i] += p[(o * sp.n + k) * sp.inner + i];
        for (std::size_t i = 0; i < sp.outer * sp.inner; ++i) q[i] *= s;
    });
    return r.finish(sum_backward);
}

var sum(const var& x) { return reduce_all(op::sum, x, false); }
var sum(const var& x, std::int64_t axis, bool keepdims) { return reduce_axis(op::sum, x, axis, keepdims, false); }
var mean(const var& x) { return reduce_all(op::mean, x, true); }
var mean(const var& x, std::int64_t axis, bool keepdims) { return reduce_axis(op::mean, x, axis, keepdims, true); }

// y = max_axis x   dx = dy at the first position holding the maximum, 0 elsewhere
// (ties go to the first index, so the subgradient is one-hot).
static void max_backward(backward_ctx& c) {
    if (!c.needs_grad(0)) return;
    const tensor& x = c.in(0);
    tensor& gx = c.grad_in(0).for_add();
    const auto sp = split_at(x.shape(), static_cast<std::size_t>(c.attrs().axis));
    with_dtype(x.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* xp = x.data<T>();
        const T* y = c.out.data<T>();
        const T* dy = c.grad_out.data<T>();
        T* dx = gx.data<T>();
        for (std::size_t o = 0; o < sp.outer; ++o)
            for (std::size_t i = 0; i < sp.inner; ++i) {
                const std::size_t j = o * sp.inner + i;
                for (std::size_t k = 0; k < sp.n; ++k) {
                    const std::size_t at = (o * sp.n + k) * sp.inner + i;
                    if (xp[at] == y[j]) {
                        dx[at] += dy[j];
                        break;
                    }
                }
            }
    });
}
var max(const var& x, std::int64_t axis, bool keepdims) {
    auto r = record(op::max, {x});
    const tensor& a = r.in(0);
    const std::size_t ax = norm_axis(op::max, axis, a.dim());
    const auto sp = split_at(a.shape(), ax);
    if (sp.n == 0) throw_argument_error(op_name(op::max), "max over an empty axis");
    r.attrs().axis = static_cast<std::int64_t>(ax);
    tensor& y = r.out(reduced_shape(a.shape(), ax, keepdims), a.dtype());
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* p = a.data<T>();
        T* q = y.data<T>();
        for (std::size_t o = 0; o < sp.outer; ++o)
            for (std::size_t i = 0; i < sp.inner; ++i) {
                T m = -std::numeric_limits<T>::infinity();
                for (std::size_t k = 0; k < sp.n; ++k) m = std::max(m, p[(o * sp.n + k) * sp.inner + i]);
                q[o * sp.inner + i] = m;
            }
    });
    return r.finish(max_backward);
}

}  // namespace xgrad
