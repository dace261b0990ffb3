#include "clip.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace xgrad::nn {

namespace {

bool active(const parameter& p) { return p.requires_grad() && p.grad().defined(); }

double sum_squares(const tensor& g) {
    return g.visit([](const auto& a) {
        double s = 0;
        const auto* d = a.data();
        for (std::size_t i = 0, n = a.size(); i < n; ++i) s += static_cast<double>(d[i]) * static_cast<double>(d[i]);
        return s;
    });
}

std::string num(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

}  // namespace

double grad_norm(const std::vector<parameter>& params) {
    double total = 0;
    for (const auto& p : params)
        if (active(p)) total += sum_squares(p.grad());
    return std::sqrt(total);
}

double clip_grad_norm(const std::vector<parameter>& params, double max_norm) {
    if (!(max_norm > 0) || !std::isfinite(max_norm))
        throw argument_error("clip_grad_norm: max_norm must be finite and > 0, got " + num(max_norm));
    const double norm = grad_norm(params);
    if (!std::isfinite(norm)) {
        std::string bad;
        for (const auto& p : params)
            if (active(p) && !all_finite(p.grad())) bad += (bad.empty() ? "" : ", ") + (p.name().empty() ? "(unnamed)" : p.name());
        throw nonfinite_gradient_error(
            "clip_grad_norm: the gradient norm is " + num(norm) +
            (bad.empty() ? std::string(" (the sum of squares overflowed)")
                         : " (non-finite values in the gradients of: " + bad + ")") +
            "; skip this step (zero_grad) or lower the learning rate, and run under detect_anomaly to find the op");
    }
    const double coef = max_norm / (norm + 1e-6);
    if (coef >= 1) return norm;
    for (auto p : params) {
        if (!active(p)) continue;
        p.grad().visit([coef](auto& a) {
            using T = typename std::decay_t<decltype(a)>::value_type;
            const T c = static_cast<T>(coef);
            auto* d = a.data();
            for (std::size_t i = 0, n = a.size(); i < n; ++i) d[i] *= c;
        });
    }
    return norm;
}

double clip_grad_norm(const module& m, double max_norm) { return clip_grad_norm(m.parameters(), max_norm); }

void clip_grad_value(const std::vector<parameter>& params, double v) {
    if (!(v > 0) || !std::isfinite(v)) throw argument_error("clip_grad_value: the bound must be finite and > 0, got " + num(v));
    for (auto p : params) {
        if (!active(p)) continue;
        p.grad().visit([v](auto& a) {
            using T = typename std::decay_t<decltype(a)>::value_type;
            const T hi = static_cast<T>(v), lo = -hi;
            auto* d = a.data();
            for (std::size_t i = 0, n = a.size(); i < n; ++i) d[i] = std::clamp(d[i], lo, hi);
        });
    }
}

void clip_grad_value(const module& m, double v) { clip_grad_value(m.parameters(), v); }

}  // namespace xgrad::nn
