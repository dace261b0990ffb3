// Activations. tanh and sigmoid run through xtensor's xsimd-vectorised math (whole SIMD batches,
// where std::tanh takes one value at a time); their backward rules reuse the saved output y.
#include "intrinsics.hpp"  // first: see there
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "kernels.hpp"
#include "ops.hpp"

namespace xgrad {

using namespace kernels;

namespace {

// The shared shape of the two softmax rules: for every lane along the op's axis (read as
// [outer, n, inner]), first a reduction r = Σ_k red(dy_k, y_k), then dx_k += grad(dy_k, y_k, r).
template <class Red, class Grad>
void along_axis_grad(backward_ctx& c, Red red, Grad grad) {
    if (!c.needs_grad(0)) return;
    const auto sp = split_at(c.out.shape(), static_cast<std::size_t>(c.attrs().axis));
    tensor& gx = c.grad_in(0).for_add();
    with_dtype(gx.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* y = c.out.data<T>();
        const T* dy = c.grad_out.data<T>();
        T* dx = gx.data<T>();
        for (std::size_t o = 0; o < sp.outer; ++o)
            for (std::size_t i = 0; i < sp.inner; ++i) {
                const std::size_t base = o * sp.n * sp.inner + i;
                T r = 0;
                for (std::size_t k = 0; k < sp.n; ++k) r += red(dy[base + k * sp.inner], y[base + k * sp.inner]);
                for (std::size_t k = 0; k < sp.n; ++k) {
                    const std::size_t at = base + k * sp.inner;
                    dx[at] += grad(dy[at], y[at], r);
                }
            }
    });
}

// xsimd's exp (inside xt::tanh and the sigmoid below) converts x·log2(e) to an integer before it selects
// the saturated result, so ±inf or NaN reach a float→int conversion that is undefined behaviour
// (-fsanitize=float-cast-overflow reports it). The functions are constant beyond `limit` (tanh: ±1, sigmoid:
// 0 or 1, exactly, in T), so arguments beyond it are clamped to ±limit and a NaN is replaced by 0, then written
// back as NaN into the result. The common case (every |x| <= limit) evaluates the unchanged expression on `a`.
template <class T, class F>
void saturating_map(const tensor& a, tensor& y, T limit, F f) {
    const T* p = a.data<T>();
    const std::size_t n = a.size();
    bool outside = false;
    for (std::size_t i = 0; i < n; ++i) outside |= !(std::abs(p[i]) <= limit);  // NaN: true
    if (!outside) {
        xt::noalias(y.array<T>()) = f(a.array<T>());
        return;
    }
    tensor clamped = tensor::empty(a.shape(), a.dtype());
    T* q = clamped.data<T>();
    for (std::size_t i = 0; i < n; ++i) q[i] = std::isnan(p[i]) ? T(0) : std::clamp(p[i], -limit, limit);
    xt::noalias(y.array<T>()) = f(clamped.array<T>());
    T* out = y.data<T>();
    for (std::size_t i = 0; i < n; ++i)
        if (std::isnan(p[i])) out[i] = p[i];
}

}  // namespace

// y = tanh x   dx = dy (1 - y²)
static void tanh_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto y, auto) { return dy * (1 - y * y); });
}
var tanh(const var& x) {
    auto r = record(op::tanh, {x});
    const tensor& a = r.in(0);
    tensor& y = r.out(a.shape(), a.dtype());
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        // tanh(x) rounds to ±1 from |x| ≈ 9 (float) and 19 (double) on
        saturating_map<T>(a, y, T(sizeof(T) == 4 ? 20 : 40), [](const auto& v) { return xt::tanh(v); });
    });
    return r.finish(tanh_backward);
}

// y = 1 / (1 + e^-x)   dx = dy y (1 - y)
static void sigmoid_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto y, auto) { return dy * y * (1 - y); });
}
var sigmoid(const var& x) {
    auto r = record(op::sigmoid, {x});
    const tensor& a = r.in(0);
    tensor& y = r.out(a.shape(), a.dtype());
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        // e^-x overflows to inf (y = 0) below -89 (float) / -710 (double) and underflows (y = 1) above +17 / +37
        saturating_map<T>(a, y, T(sizeof(T) == 4 ? 100 : 800),
                          [](const auto& v) { return T(1) / (T(1) + xt::exp(-v)); });
    });
    return r.finish(sigmoid_backward);
}

// y = max(x, 0)   dx = dy [x > 0]; the subgradient at x = 0 is 0 (PyTorch's choice)
static void relu_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto, auto x) { return x > 0 ? dy : decltype(dy)(0); });
}
var relu(const var& x) {
    return unary(op::relu, x, relu_backward, [](auto v) { return v > 0 ? v : decltype(v)(0); });
}

// y = x > 0 ? x : s x   dx = dy (x > 0 ? 1 : s); at x = 0 the slope s is used
static void leaky_relu_backward(backward_ctx& c) {
    const double s = c.attrs().slope;
    unary_grad(c, [s](auto dy, auto, auto x) { return x > 0 ? dy : static_cast<decltype(dy)>(s) * dy; });
}
var leaky_relu(const var& x, double slope) {
    node_attrs at;
    at.slope = slope;
    return unary(op::leaky_relu, x, leaky_relu_backward,
                 [slope](auto v) { return v > 0 ? v : static_cast<decltype(v)>(slope) * v; }, at);
}

// y = x > 0 ? x : a (e^x - 1)   dx = dy (x > 0 ? 1 : y + a); at x = 0 that is a (1 when a = 1)
static void elu_backward(backward_ctx& c) {
    const double a = c.attrs().alpha;
    unary_grad(c, [a](auto dy, auto y, auto x) { return x > 0 ? dy : dy * (y + static_cast<decltype(dy)>(a)); });
}
var elu(const var& x, double alpha) {
    node_attrs at;
    at.alpha = alpha;
    return unary(op::elu, x, elu_backward,
                 [alpha](auto v) { return v > 0 ? v : static_cast<decltype(v)>(alpha) * std::expm1(v); }, at);
}

// y = x Φ(x)   dx = dy (Φ(x) + x φ(x)),  Φ the normal CDF, φ its density
static void gelu_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto, auto x) {
        using T = decltype(x);
        const T cdf = T(0.5) * (1 + std::erf(x * T(M_SQRT1_2)));
        const T pdf = std::exp(T(-0.5) * x * x) * T(0.3989422804014327);
        return dy * (cdf + x * pdf);
    });
}
var gelu(const var& x) {
    return unary(op::gelu, x, gelu_backward, [](auto v) {
        using T = decltype(v);
        return T(0.5) * v * (1 + std::erf(v * T(M_SQRT1_2)));
    });
}

// y = ln(1 + e^x)   dx = dy σ(x)
static void softplus_backward(backward_ctx& c) {
    unary_grad(c, [](auto dy, auto, auto x) { return dy / (1 + std::exp(-x)); });
}
var softplus(const var& x) {
    // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|): no overflow for large |x|
    return unary(op::softplus, x, softplus_backward,
                 [](auto v) { return std::max(v, decltype(v)(0)) + std::log1p(std::exp(-std::abs(v))); });
}

// y = clamp(x, lo, hi)   dx = dy where lo < x < hi; 0 outside and at the kinks (PyTorch's choice)
static void hard_tanh_backward(backward_ctx& c) {
    const double lo = c.attrs().lo, hi = c.attrs().hi;
    unary_grad(c, [=](auto dy, auto, auto x) { return (x > lo && x < hi) ? dy : decltype(dy)(0); });
}
var hard_tanh(const var& x, double lo, double hi) {
    if (!(lo < hi))
        throw_argument_error(op_name(op::hard_tanh), "lo (" + std::to_string(lo) + ") must be below hi (" + std::to_string(hi) + ")");
    node_attrs at;
    at.lo = lo;
    at.hi = hi;
    return unary(op::hard_tanh, x, hard_tanh_backward,
                 [=](auto v) {
                     using T = decltype(v);
                     return std::min(std::max(v, static_cast<T>(lo)), static_cast<T>(hi));
                 },
                 at);
}

// y = softmax x   dx = y (dy - Σ dy y)
static void softmax_backward(backward_ctx& c) {
    along_axis_grad(c, [](auto dy, auto y) { return dy * y; }, [](auto dy, auto y, auto dot) { return y * (dy - dot); });
}

// y = x - logsumexp x   dx = dy - e^y Σ dy
static void log_softmax_backward(backward_ctx& c) {
    along_axis_grad(c, [](auto dy, auto) { return dy; },
                    [](auto dy, auto y, auto total) { return dy - std::exp(y) * total; });
}

// softmax along `axis`, or log_softmax when log_form; both through logsumexp, so no e^x overflows.
static var softmax_impl(op id, const var& x, std::int64_t axis, bool log_form) {
    auto r = record(id, {x});
    const tensor& a = r.in(0);
    if (a.dim() == 0) throw_shape_error(op_name(id), "needs at least one dimension");
    const std::size_t ax = norm_axis(id, axis, a.dim());
    r.attrs().axis = static_cast<std::int64_t>(ax);
    const auto sp = split_at(a.shape(), ax);
    tensor& out = r.out(a.shape(), a.dtype());
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* p = a.data<T>();
        T* q = out.data<T>();
        for (std::size_t o = 0; o < sp.outer; ++o)
            for (std::size_t i = 0; i < sp.inner; ++i) {
                const std::size_t base = o * sp.n * sp.inner + i;
                T m = -std::numeric_limits<T>::infinity();
                for (std::size_t k = 0; k < sp.n; ++k) m = std::max(m, p[base + k * sp.inner]);
                T total = 0;
                for (std::size_t k = 0; k < sp.n; ++k) total += std::exp(p[base + k * sp.inner] - m);
                const T lse = m + std::log(total);
                for (std::size_t k = 0; k < sp.n; ++k) {
                    const std::size_t at = base + k * sp.inner;
                    q[at] = log_form ? p[at] - lse : std::exp(p[at] - lse);
                }
            }
    });
    return r.finish(log_form ? log_softmax_backward : softmax_backward);
}

var softmax(const var& x, std::int64_t axis) { return softmax_impl(op::softmax, x, axis, false); }
var log_softmax(const var& x, std::int64_t axis) { return softmax_impl(op::log_softmax, x, axis, true); }

namespace {
struct named_activation {
    std::string_view name;
    var (*fn)(const var&);
};
const std::array<named_activation, 8> activations = {{
    {"tanh", [](const var& x) { return tanh(x); }},
    {"sigmoid", [](const var& x) { return sigmoid(x); }},
    {"relu", [](const var& x) { return relu(x); }},
    {"leaky_relu", [](const var& x) { return leaky_relu(x); }},
    {"elu", [](const var& x) { return elu(x); }},
    {"gelu", [](const var& x) { return gelu(x); }},
    {"softplus", [](const var& x) { return softplus(x); }},
    {"hard_tanh", [](const var& x) { return hard_tanh(x); }},
}};
}  // namespace

void check_activation(std::string_view name, std::string_view who) {
    for (const auto& a : activations)
        if (a.name == name) return;
    std::string known;
    for (const auto& a : activations) known += (known.empty() ? "" : ", ") + std::string(a.name);
    throw argument_error(std::string(who) + ": unknown activation '" + std::string(name) + "' (known: " + known + ")");
}

var activation(std::string_view name, const var& x) {
    for (const auto& a : activations)
        if (a.name == name) return a.fn(x);
    check_activation(name, "xgrad::activation");  // throws
    return {};
}

std::vector<std::string_view> activation_names() {
    std::vector<std::string_view> names;
    for (const auto& a : activations) names.push_back(a.name);
    return names;
}

}  // namespace xgrad
