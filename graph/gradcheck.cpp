#include "gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace xgrad {

namespace {

double dot(const tensor& a, const tensor& b) {
    double s = 0;
    for (std::size_t i = 0, n = a.size(); i < n; ++i) s += a.flat(i) * b.flat(i);
    return s;
}

struct problem {
    const gradcheck_fn& f;
    std::vector<tensor>& inputs;
    std::vector<parameter>& params;
    const std::vector<bool>& check;
    tensor weights;  // R, fixed once the output shape is known

    var run(tape& t, bool with_grad) {
        std::vector<var> vars;
        vars.reserve(inputs.size());
        for (std::size_t i = 0; i < inputs.size(); ++i)
            vars.push_back(t.input(inputs[i], with_grad && check[i], "input " + std::to_string(i)));
        return f(std::span<const var>(vars));
    }

    // L(x) = Σ f(x) ⊙ R, without recording gradients.
    double loss() {
        tape t;
        no_grad ng;
        var y = run(t, false);
        return dot(y.value().to(dtype::float64), weights);
    }

    // ∂L/∂(input i) or ∂L/∂(param i - n_inputs) by central differences along direction u
    // (u = one-hot when `element` is set).
    double numeric(tensor& x, std::size_t element, const tensor* u, double eps) {
        auto shift = [&](double s) {
            if (u)
                for (std::size_t k = 0; k < x.size(); ++k) x.set_flat(k, x.flat(k) + s * u->flat(k));
            else
                x.set_flat(element, x.flat(element) + s);
        };
        const tensor saved = x;
        shift(eps);
        const double plus = loss();
        x = saved;
        shift(-eps);
        const double minus = loss();
        x = saved;
        return (plus - minus) / (2 * eps);
    }
};

void compare(gradcheck_entry& e, std::size_t at, double analytic, double numeric, const gradcheck_options& opt) {
    const double abs_err = std::abs(analytic - numeric);
    const double rel_err = abs_err / std::max(std::abs(numeric), 1e-8);
    ++e.checked;
    if (abs_err > opt.atol + opt.rtol * std::abs(numeric)) e.ok = false;
    if (abs_err >= e.max_abs_error) {
        e.max_abs_error = abs_err;
        e.worst = at;
        e.analytic = analytic;
        e.numeric = numeric;
    }
    e.max_rel_error = std::max(e.max_rel_error, rel_err);
}

}  // namespace

gradcheck_report gradcheck(const gradcheck_fn& f, std::vector<tensor> inputs, const gradcheck_options& opt) {
    return gradcheck(f, std::move(inputs), {}, opt);
}

gradcheck_report gradcheck(const gradcheck_fn& f, std::vector<tensor> inputs, std::vector<parameter> params,
                           const gradcheck_options& opt) {
    for (auto& x : inputs) x = x.to(dtype::float64);
    for (auto& p : params)
        if (p.dtype() != dtype::float64)
            throw dtype_error("gradcheck: parameter '" + p.name() + "' is " + dtype_name(p.dtype()) +
                              "; gradcheck needs float64 (cast the model to float64 first)");
    std::vector<bool> check = opt.check;
    if (check.empty()) check.assign(inputs.size(), true);
    if (check.size() != inputs.size())
        throw argument_error("gradcheck: options.check has " + std::to_string(check.size()) + " entries for " +
                             std::to_string(inputs.size()) + " inputs");

    problem pb{f, inputs, params, check, {}};
    rng gen(opt.seed ^ 0x9e3779b97f4a7c15ULL);

    // Analytic gradients: one backward seeded with R. Parameter gradients are set aside first.
    std::vector<tensor> saved_param_grads;
    for (auto& p : params) {
        saved_param_grads.push_back(p.grad());
        p.grad() = tensor();
    }
    std::vector<tensor> analytic(inputs.size() + params.size());
    {
        tape t;
        var y = pb.run(t, true);
        if (y.dtype() != dtype::float64)
            throw dtype_error("gradcheck: the function returned " + std::string(dtype_name(y.dtype())) +
                              "; it must compute in float64 (its parameters too)");
        pb.weights = randn(y.shape(), gen, dtype::float64);
        if (y.requires_grad()) t.backward(y, pb.weights);
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            const tensor& g = t.grad(i);  // inputs are nodes 0..n-1 of this tape
            analytic[i] = g.defined() ? g : tensor::zeros(inputs[i].shape(), dtype::float64);
        }
        for (std::size_t j = 0; j < params.size(); ++j) {
            const tensor& g = params[j].grad();
            analytic[inputs.size() + j] = g.defined() ? g : tensor::zeros(params[j].shape(), dtype::float64);
        }
    }
    for (std::size_t j = 0; j < params.size(); ++j) params[j].grad() = saved_param_grads[j];

    gradcheck_report report;
    const std::size_t total = inputs.size() + params.size();
    for (std::size_t i = 0; i < total; ++i) {
        const bool is_param = i >= inputs.size();
        if (!is_param && !check[i]) continue;
        tensor& x = is_param ? params[i - inputs.size()].value() : inputs[i];
        gradcheck_entry e;
        e.what = is_param ? "param " + params[i - inputs.size()].name() : "input " + std::to_string(i);
        e.shape = x.shape();
        if (opt.random_direction) {
            for (int d = 0; d < opt.directions; ++d) {
                tensor u = randn(x.shape(), gen, dtype::float64);
                double norm = std::sqrt(dot(u, u));
                if (norm == 0) continue;
                for (std::size_t k = 0; k < u.size(); ++k) u.set_flat(k, u.flat(k) / norm);
                compare(e, static_cast<std::size_t>(d), dot(analytic[i], u), pb.numeric(x, 0, &u, opt.eps), opt);
            }
        } else {
            for (std::size_t k = 0; k < x.size(); ++k)
                compare(e, k, analytic[i].flat(k), pb.numeric(x, k, nullptr, opt.eps), opt);
        }
        report.ok = report.ok && e.ok;
        report.entries.push_back(std::move(e));
    }
    return report;
}

double gradcheck_report::max_abs_error() const {
    double m = 0;
    for (const auto& e : entries) m = std::max(m, e.max_abs_error);
    return m;
}

double gradcheck_report::max_rel_error() const {
    double m = 0;
    for (const auto& e : entries) m = std::max(m, e.max_rel_error);
    return m;
}

void gradcheck_report::print(std::ostream& os) const {
    os << "gradcheck " << (ok ? "PASS" : "FAIL") << "\n";
    for (const auto& e : entries) {
        os << "  " << std::left << std::setw(16) << e.what << std::right << " " << std::setw(12) << shape_str(e.shape)
           << "  checked " << e.checked << "  max abs " << std::scientific << std::setprecision(2) << e.max_abs_error
           << "  max rel " << e.max_rel_error << std::defaultfloat << "  " << (e.ok ? "ok" : "MISMATCH");
        if (!e.ok)
            os << "  (worst at " << e.worst << ": analytic " << std::setprecision(10) << e.analytic << ", numeric "
               << e.numeric << std::setprecision(6) << ")";
        os << "\n";
    }
}

std::string gradcheck_report::str() const {
    std::ostringstream s;
    print(s);
    return s.str();
}

const char* domain_name(domain d) {
    switch (d) {
        case domain::real: return "real";
        case domain::positive: return "positive";
        case domain::nonzero: return "nonzero";
        case domain::off_kinks: return "off_kinks";
        case domain::unit: return "unit";
        case domain::index: return "index";
    }
    return "?";
}

tensor sample(const shape_t& shape, domain d, rng& gen, dtype dt, std::size_t classes) {
    tensor t = tensor::empty(shape, dt);
    for (std::size_t k = 0; k < t.size(); ++k) {
        double v = 0;
        switch (d) {
            case domain::real: v = gen.normal(); break;
            case domain::positive: v = gen.uniform(0.5, 2.0); break;
            case domain::nonzero: v = (gen.uniform() < 0.5 ? -1 : 1) * gen.uniform(0.5, 2.0); break;
            case domain::off_kinks:
                do v = gen.uniform(0.1, 2.0);
                while (std::abs(v - 0.5) < 0.05 || std::abs(v - 1.0) < 0.05);
                v *= gen.uniform() < 0.5 ? -1 : 1;
                break;
            case domain::unit: v = gen.uniform(0.05, 0.95); break;
            case domain::index: v = static_cast<double>(gen.index(classes)); break;
        }
        t.set_flat(k, v);
    }
    return t;
}

}  // namespace xgrad
