// The update rules of sgd, adam/adamw and rmsprop: one loop over raw memory per parameter, in the
// parameter's dtype, with no temporaries (nothing is allocated per step).
#include <cmath>
#include <sstream>

#include "optim.hpp"

namespace xgrad::nn {

namespace {

void require(bool ok, const char* opt, const std::string& what) {
    if (!ok) throw argument_error(std::string(opt) + ": " + what);
}

std::string num(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

// Calls f(T{}, g) with T the parameter's dtype and g its gradient's typed data.
template <class F>
void with_grad(parameter& p, F&& f) {
    if (p.dtype() == dtype::float32) f(float{}, p.grad().data<float>());
    else f(double{}, p.grad().data<double>());
}

template <class T>
T* slot(std::vector<tensor>& buf, std::size_t k) {
    return buf[k].data<T>();
}

}  // namespace

// ---- SGD ---------------------------------------------------------------------------------------------

namespace {
std::vector<std::string> sgd_slots(const sgd_options& o) {
    require(o.momentum >= 0 && std::isfinite(o.momentum), "sgd", "momentum must be >= 0, got " + num(o.momentum));
    require(o.weight_decay >= 0 && std::isfinite(o.weight_decay), "sgd", "weight_decay must be >= 0, got " + num(o.weight_decay));
    require(std::isfinite(o.dampening), "sgd", "dampening must be finite");
    require(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "sgd",
            "nesterov needs momentum > 0 and dampening 0 (as in PyTorch)");
    if (o.momentum > 0) return {"momentum"};
    return {};
}
}  // namespace

sgd::sgd(const module& m, const sgd_options& o) : optimizer("sgd", m, o.lr, sgd_slots(o)), o_(o) {}
sgd::sgd(const std::vector<parameter>& ps, const sgd_options& o) : optimizer("sgd", ps, o.lr, sgd_slots(o)), o_(o) {}

void sgd::update(parameter& p, param_slots& s) {
    const bool first = s.count == 0;
    with_grad(p, [&](auto z, const auto* g) {
        using T = decltype(z);
        const T rate = static_cast<T>(lr()), wd = static_cast<T>(o_.weight_decay), mu = static_cast<T>(o_.momentum),
                damp = static_cast<T>(1 - o_.dampening);
        if (o_.momentum == 0) {
            p.update_in_place<T>([&](T* w, std::size_t i0, std::size_t i1) {
                for (std::size_t i = i0; i < i1; ++i) w[i] -= rate * (g[i] + wd * w[i]);
            });
            return;
        }
        T* b = slot<T>(s.buf, 0);
        p.update_in_place<T>([&](T* w, std::size_t i0, std::size_t i1) {
            for (std::size_t i = i0; i < i1; ++i) {
                const T gi = g[i] + wd * w[i];
                b[i] = first ? gi : mu * b[i] + damp * gi;
                w[i] -= rate * (o_.nesterov ? gi + mu * b[i] : b[i]);
            }
        });
    });
}

// ---- Adam / AdamW ------------------------------------------------------------------------------------

namespace {
void check_adam(const adam_options& o, const char* name) {
    require(o.beta1 >= 0 && o.beta1 < 1, name, "beta1 must be in [0, 1), got " + num(o.beta1));
    require(o.beta2 >= 0 && o.beta2 < 1, name, "beta2 must be in [0, 1), got " + num(o.beta2));
    require(o.eps >= 0 && std::isfinite(o.eps), name, "eps must be >= 0, got " + num(o.eps));
    require(o.weight_decay >= 0 && std::isfinite(o.weight_decay), name,
            "weight_decay must be >= 0, got " + num(o.weight_decay));
}
adam_options as_adam(const adamw_options& o) {
    return {.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.weight_decay,
            .keras_epsilon = o.keras_epsilon};
}
std::vector<std::string> adam_slots(const adam_options& o, const char* name) {
    check_adam(o, name);
    return {"m", "v"};
}
}  // namespace

adam::adam(const module& m, const adam_options& o) : adam("adam", m, o, false) {}
adam::adam(const std::vector<parameter>& ps, const adam_options& o) : adam("adam", ps, o, false) {}
adam::adam(std::string name, const module& m, const adam_options& o, bool decoupled)
    : optimizer(name, m, o.lr, adam_slots(o, name.c_str())), o_(o), decoupled_(decoupled) {}
adam::adam(std::string name, const std::vector<parameter>& ps, const adam_options& o, bool decoupled)
    : optimizer(name, ps, o.lr, adam_slots(o, name.c_str())), o_(o), decoupled_(decoupled) {}

adamw::adamw(const module& m, const adamw_options& o) : adam("adamw", m, as_adam(o), true) {}
adamw::adamw(const std::vector<parameter>& ps, const adamw_options& o) : adam("adamw", ps, as_adam(o), true) {}

namespace {
template <class T>
struct adam_coeffs {
    T b1, b2, eps, l2, shrink, step, inv_sqrt_bc2;
};
// Elements [0, n) of one range. The pointers are parameters marked __restrict (distinct buffers), so
// GCC vectorises the loop; pointers captured by a lambda lose that and leave it scalar.
// PyTorch's order: m ← β1·m + (1 − β1)·g, v ← β2·v + (1 − β2)·g², w ← w − step·m / (√v·(1/√bc2) + ε).
template <class T>
void adam_range(std::size_t n, T* __restrict w, const T* __restrict g, T* __restrict m, T* __restrict v,
                const adam_coeffs<T>& c) {
    const T b1 = c.b1, b2 = c.b2, eps = c.eps, l2 = c.l2, shrink = c.shrink, step = c.step, ibc2 = c.inv_sqrt_bc2;
    for (std::size_t i = 0; i < n; ++i) {
        const T wi = w[i] * shrink;
        const T gi = g[i] + l2 * w[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        w[i] = wi - step * m[i] / (std::sqrt(v[i]) * ibc2 + eps);
    }
}
// TensorFlow's ApplyAdam order (tf.keras 2's Adam), every operation in T:
// m ← m + (g − m)·(1 − β1), v ← v + (g² − v)·(1 − β2), w ← w − (m·α) / (√v + ε̂).
// Each operation rounds on its own: no a·b + c fused into one FMA (GCC contracts by default in C++).
template <class T>
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
void adam_range_keras(std::size_t n, T* __restrict w, const T* __restrict g, T* __restrict m, T* __restrict v,
                      const adam_coeffs<T>& c) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    const T omb1 = T(1) - c.b1, omb2 = T(1) - c.b2, eps = c.eps, l2 = c.l2, shrink = c.shrink, alpha = c.step;
    for (std::size_t i = 0; i < n; ++i) {
        const T wi = w[i] * shrink;
        const T gi = g[i] + l2 * w[i];
        m[i] += (gi - m[i]) * omb1;
        v[i] += (gi * gi - v[i]) * omb2;
        w[i] = wi - (m[i] * alpha) / (std::sqrt(v[i]) + eps);
    }
}
}  // namespace

void adam::update(parameter& p, param_slots& s) {
    with_grad(p, [&](auto z, const auto* g) {
        using T = decltype(z);
        T* m = slot<T>(s.buf, 0);
        T* v = slot<T>(s.buf, 1);
        adam_coeffs<T> c{
            .b1 = static_cast<T>(o_.beta1),
            .b2 = static_cast<T>(o_.beta2),
            .eps = static_cast<T>(o_.eps),
            .l2 = static_cast<T>(decoupled_ ? 0 : o_.weight_decay),
            .shrink = static_cast<T>(1 - (decoupled_ ? lr() * o_.weight_decay : 0)),
            .step = 0,
            .inv_sqrt_bc2 = 1,
        };
        if (o_.keras_epsilon) {
            // Keras / TF: β rounded to T once, for the moments and for the bias corrections alike;
            // t, βᵗ and α = lr·√(1 − β2ᵗ) / (1 − β1ᵗ) in T, in that order.
            const T t = static_cast<T>(s.count + 1);
            const T bp1 = std::pow(c.b1, t), bp2 = std::pow(c.b2, t);
            c.step = static_cast<T>(lr()) * std::sqrt(T(1) - bp2) / (T(1) - bp1);
            p.update_in_place<T>([&](T* w, std::size_t i0, std::size_t i1) {
                adam_range_keras(i1 - i0, w + i0, g + i0, m + i0, v + i0, c);
            });
            return;
        }
        // PyTorch: bias corrections from the Python (double) β, step lr/bc1, denominator √v/√bc2 + ε.
        const double t = static_cast<double>(s.count + 1);
        const double bc1 = 1 - std::pow(o_.beta1, t), bc2 = 1 - std::pow(o_.beta2, t);
        c.step = static_cast<T>(lr() / bc1);
        c.inv_sqrt_bc2 = static_cast<T>(1 / std::sqrt(bc2));
        p.update_in_place<T>([&](T* w, std::size_t i0, std::size_t i1) {
            adam_range(i1 - i0, w + i0, g + i0, m + i0, v + i0, c);
        });
    });
}

// ---- RMSprop -----------------------------------------------------------------------------------------

namespace {
std::vector<std::string> rmsprop_slots(const rmsprop_options& o) {
    require(o.alpha >= 0 && o.alpha < 1, "rmsprop", "alpha must be in [0, 1), got " + num(o.alpha));
    require(o.eps >= 0 && std::isfinite(o.eps), "rmsprop", "eps must be >= 0, got " + num(o.eps));
    require(o.momentum >= 0 && std::isfinite(o.momentum), "rmsprop", "momentum must be >= 0, got " + num(o.momentum));
    require(o.weight_decay >= 0 && std::isfinite(o.weight_decay), "rmsprop",
            "weight_decay must be >= 0, got " + num(o.weight_decay));
    std::vector<std::string> slots{"square_avg"};
    if (o.centered) slots.emplace_back("grad_avg");
    if (o.momentum > 0) slots.emplace_back("momentum");
    return slots;
}
}  // namespace

rmsprop::rmsprop(const module& m, const rmsprop_options& o) : optimizer("rmsprop", m, o.lr, rmsprop_slots(o)), o_(o) {}
rmsprop::rmsprop(const std::vector<parameter>& ps, const rmsprop_options& o)
    : optimizer("rmsprop", ps, o.lr, rmsprop_slots(o)), o_(o) {}

void rmsprop::update(parameter& p, param_slots& s) {
    with_grad(p, [&](auto z, const auto* g) {
        using T = decltype(z);
        T* sq = slot<T>(s.buf, 0);
        T* avg = o_.centered ? slot<T>(s.buf, 1) : nullptr;
        T* mom = o_.momentum > 0 ? slot<T>(s.buf, o_.centered ? 2 : 1) : nullptr;
        const T a = static_cast<T>(o_.alpha), eps = static_cast<T>(o_.eps), rate = static_cast<T>(lr()),
                wd = static_cast<T>(o_.weight_decay), mu = static_cast<T>(o_.momentum);
        const bool keras = o_.keras_epsilon;
        p.update_in_place<T>([&](T* w, std::size_t i0, std::size_t i1) {
            for (std::size_t i = i0; i < i1; ++i) {
                const T gi = g[i] + wd * w[i];
                sq[i] = a * sq[i] + (1 - a) * gi * gi;
                T var = sq[i];
                if (avg) {
                    avg[i] = a * avg[i] + (1 - a) * gi;
                    var -= avg[i] * avg[i];
                }
                const T d = keras ? std::sqrt(var + eps) : std::sqrt(var) + eps;
                if (mom) {
                    mom[i] = mu * mom[i] + gi / d;
                    w[i] -= rate * mom[i];
                } else {
                    w[i] -= rate * gi / d;
                }
            }
        });
    });
}

}  // namespace xgrad::nn
