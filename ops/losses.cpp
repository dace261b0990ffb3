// Losses, each fused into one op (one node, numerically stable), averaged to a 0-d scalar.
// Prediction and target must have exactly the same shape: a silent [N] vs [N, 1] broadcast is the
// classic way to train on the wrong loss, so it is an error here.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.hpp"
#include "ops.hpp"

namespace xgrad {

using namespace kernels;

namespace {

void require_same_shape(op id, const tensor& p, const tensor& t) {
    if (p.shape() != t.shape())
        throw_shape_error(op_name(id), "prediction " + shape_str(p.shape()) + " and target " + shape_str(t.shape()) +
                                           " must have the same shape (reshape one; losses never broadcast)");
    if (p.size() == 0) throw_shape_error(op_name(id), "empty prediction " + shape_str(p.shape()));
}

// Writes the 0-d loss mean_i f(p_i, t_i), accumulated in double.
template <class F>
var pointwise_loss(op id, const var& pred, const var& target, backward_fn rule, F f) {
    auto r = record(id, {pred, target});
    const tensor& p = r.in(0);
    const tensor& t = r.in(1);
    require_same_shape(id, p, t);
    tensor& out = r.out(shape_t{}, p.dtype());
    with_dtype(p.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pp = p.data<T>();
        const T* tp = t.data<T>();
        double acc = 0;
        for (std::size_t i = 0, n = p.size(); i < n; ++i) acc += f(static_cast<double>(pp[i]), static_cast<double>(tp[i]));
        out.data<T>()[0] = static_cast<T>(acc / static_cast<double>(p.size()));
    });
    return r.finish(rule);
}

// dp += dL gp(p, t) / N,  dt += dL gt(p, t) / N
template <class GP, class GT>
void pointwise_loss_grad(backward_ctx& c, GP gp, GT gt) {
    const tensor& p = c.in(0);
    with_dtype(p.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pp = p.data<T>();
        const T* tp = c.in(1).data<T>();
        const T scale = c.grad_out.data<T>()[0] / static_cast<T>(p.size());
        if (c.needs_grad(0)) {
            T* dp = c.grad_in(0).for_add().data<T>();
            for (std::size_t i = 0, n = p.size(); i < n; ++i) dp[i] += scale * gp(pp[i], tp[i]);
        }
        if (c.needs_grad(1)) {
            T* dt = c.grad_in(1).for_add().data<T>();
            for (std::size_t i = 0, n = p.size(); i < n; ++i) dt[i] += scale * gt(pp[i], tp[i]);
        }
    });
}

// With lengths [B] (ops/sequence.cpp): p and t [B, T, ...], only the valid steps t < len_b count.
// Writes the 0-d loss Σ_valid f(p_i, t_i) / N, N the number of valid elements (attrs.scale = 1 / N).
template <class F>
var masked_pointwise_loss(op id, const var& pred, const var& target, const var& lengths, backward_fn rule, F f) {
    auto r = record(id, {pred, target, lengths});
    const tensor& p = r.in(0);
    const tensor& t = r.in(1);
    require_same_shape(id, p, t);
    if (p.dim() < 2)
        throw_shape_error(op_name(id), "with lengths the prediction must be a sequence [batch, time, ...], got " +
                                           shape_str(p.shape()));
    const std::size_t B = p.shape()[0], T_ = p.shape()[1], inner = p.size() / (B * T_);
    const auto len = read_lengths(id, r.in(2), B);
    std::size_t n = 0;
    for (std::size_t b = 0; b < B; ++b) n += std::min(len[b], T_) * inner;
    if (n == 0) throw_argument_error(op_name(id), "every length is 0: no valid step to average over");
    r.attrs().scale = 1.0 / static_cast<double>(n);
    tensor& out = r.out(shape_t{}, p.dtype());
    with_dtype(p.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pp = p.data<T>();
        const T* tp = t.data<T>();
        double acc = 0;
        for (std::size_t b = 0; b < B; ++b)
            for (std::size_t i = b * T_ * inner, e = i + std::min(len[b], T_) * inner; i < e; ++i)
                acc += f(static_cast<double>(pp[i]), static_cast<double>(tp[i]));
        out.data<T>()[0] = static_cast<T>(acc / static_cast<double>(n));
    });
    return r.finish(rule);
}

// dp += dL gp(p, t) / N,  dt += dL gt(p, t) / N at the valid steps; 0 at the padded ones
template <class GP, class GT>
void masked_pointwise_loss_grad(backward_ctx& c, GP gp, GT gt) {
    const tensor& p = c.in(0);
    const std::size_t B = p.shape()[0], T_ = p.shape()[1], inner = p.size() / (B * T_);
    with_dtype(p.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pp = p.data<T>();
        const T* tp = c.in(1).data<T>();
        const T* len = c.in(2).data<T>();
        const T scale = c.grad_out.data<T>()[0] * static_cast<T>(c.attrs().scale);
        for (std::size_t k = 0; k < 2; ++k) {
            if (!c.needs_grad(k)) continue;
            T* d = c.grad_in(k).for_add().template data<T>();
            for (std::size_t b = 0; b < B; ++b) {
                const std::size_t steps = std::min(T_, static_cast<std::size_t>(len[b]));
                for (std::size_t i = b * T_ * inner, e = i + steps * inner; i < e; ++i)
                    d[i] += scale * (k == 0 ? gp(pp[i], tp[i]) : gt(pp[i], tp[i]));
            }
        }
    });
}

// ln p clamped at -100, as PyTorch's BCELoss does, so p = 0 or 1 gives a finite loss.
template <class T>
T clamped_log(T v) {
    return std::max(std::log(v), T(-100));
}

}  // namespace

// L = mean (p - t)²   dp = 2 (p - t) / N   dt = -2 (p - t) / N
static void mse_backward(backward_ctx& c) {
    pointwise_loss_grad(c, [](auto p, auto t) { return 2 * (p - t); }, [](auto p, auto t) { return -2 * (p - t); });
}
var mse(const var& pred, const var& target) {
    return pointwise_loss(op::mse, pred, target, mse_backward, [](double p, double t) { return (p - t) * (p - t); });
}

// masked: the same over the valid steps of a sequence (N = their element count)
static void mse_masked_backward(backward_ctx& c) {
    masked_pointwise_loss_grad(c, [](auto p, auto t) { return 2 * (p - t); }, [](auto p, auto t) { return -2 * (p - t); });
}
var mse(const var& pred, const var& target, const var& lengths) {
    return masked_pointwise_loss(op::mse, pred, target, lengths, mse_masked_backward,
                                 [](double p, double t) { return (p - t) * (p - t); });
}

// L = -mean(t ln p + (1 - t) ln(1 - p))
// dp = (p - t) / (p (1 - p) N) (denominator floored at 1e-12)   dt = (ln(1 - p) - ln p) / N
static void bce_backward(backward_ctx& c) {
    pointwise_loss_grad(
        c,
        [](auto p, auto t) {
            using T = decltype(p);
            return (p - t) / std::max(p * (1 - p), T(1e-12));
        },
        [](auto p, auto) { return clamped_log(1 - p) - clamped_log(p); });
}
var bce(const var& prob, const var& target) {
    return pointwise_loss(op::bce, prob, target, bce_backward,
                          [](double p, double t) { return -(t * clamped_log(p) + (1 - t) * clamped_log(1 - p)); });
}

// L = mean(max(z, 0) - z t + ln(1 + e^-|z|))   dz = (σ(z) - t) / N   dt = -z / N
static void bce_with_logits_backward(backward_ctx& c) {
    pointwise_loss_grad(
        c, [](auto z, auto t) { return 1 / (1 + std::exp(-z)) - t; }, [](auto z, auto) { return -z; });
}
var bce_with_logits(const var& logits, const var& target) {
    return pointwise_loss(op::bce_with_logits, logits, target, bce_with_logits_backward, [](double z, double t) {
        return std::max(z, 0.0) - z * t + std::log1p(std::exp(-std::abs(z)));
    });
}

// masked: the same over the valid steps of a sequence
static void bce_with_logits_masked_backward(backward_ctx& c) {
    masked_pointwise_loss_grad(
        c, [](auto z, auto t) { return 1 / (1 + std::exp(-z)) - t; }, [](auto z, auto) { return -z; });
}
var bce_with_logits(const var& logits, const var& target, const var& lengths) {
    return masked_pointwise_loss(op::bce_with_logits, logits, target, lengths, bce_with_logits_masked_backward,
                                 [](double z, double t) {
                                     return std::max(z, 0.0) - z * t + std::log1p(std::exp(-std::abs(z)));
                                 });
}

// L = -mean_i log_softmax(z_i)[t_i]   dz = (softmax(z) - onehot(t)) / N   (saved(0) = softmax(z))
static void cross_entropy_backward(backward_ctx& c) {
    if (!c.needs_grad(0)) return;
    const tensor& probs = c.saved(0);
    const std::size_t n = probs.shape()[0], k = probs.shape()[1];
    tensor& gz = c.grad_in(0).for_add();
    with_dtype(gz.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pr = probs.data<T>();
        const T* cls = c.in(1).data<T>();
        const T scale = c.grad_out.data<T>()[0] / static_cast<T>(n);
        T* dz = gz.data<T>();
        for (std::size_t i = 0; i < n; ++i) {
            const auto ci = static_cast<std::size_t>(cls[i]);
            for (std::size_t j = 0; j < k; ++j) dz[i * k + j] += scale * (pr[i * k + j] - (j == ci ? T(1) : T(0)));
        }
    });
}
var cross_entropy(const var& logits, const var& classes) {
    auto r = record(op::cross_entropy, {logits, classes});
    const tensor& z = r.in(0);
    const tensor& cls = r.in(1);
    if (z.dim() != 2 || cls.dim() != 1 || cls.shape()[0] != z.shape()[0] || z.shape()[0] == 0)
        throw_shape_error(op_name(op::cross_entropy), "logits " + shape_str(z.shape()) + " and classes " + shape_str(cls.shape()) +
                                               " do not fit (expected logits [N, C] and classes [N], N > 0)");
    const std::size_t n = z.shape()[0], k = z.shape()[1];
    tensor& probs = r.save(0);
    probs.reshape_storage(z.shape(), z.dtype());
    tensor& out = r.out(shape_t{}, z.dtype());
    with_dtype(z.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* zp = z.data<T>();
        const T* cp = cls.data<T>();
        T* pr = probs.data<T>();
        double total = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const T c = cp[i];
            if (!is_index_below(c, k))
                throw_argument_error(op_name(op::cross_entropy), "class " + number_str(static_cast<double>(c)) + " of row " +
                                                          std::to_string(i) + " is not an integer in [0, " +
                                                          std::to_string(k) + ")");
            T m = -std::numeric_limits<T>::infinity();
            for (std::size_t j = 0; j < k; ++j) m = std::max(m, zp[i * k + j]);
            T s = 0;
            for (std::size_t j = 0; j < k; ++j) s += std::exp(zp[i * k + j] - m);
            const T lse = m + std::log(s);
            for (std::size_t j = 0; j < k; ++j) pr[i * k + j] = std::exp(zp[i * k + j] - lse);
            total += static_cast<double>(lse - zp[i * k + static_cast<std::size_t>(c)]);
        }
        out.data<T>()[0] = static_cast<T>(total / static_cast<double>(n));
    });
    return r.finish(cross_entropy_backward);
}

}  // namespace xgrad
