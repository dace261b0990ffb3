// The terms of backpropagation through time, read from a tape after backward: nn::step_terms and
// recurrent_base::step_terms (nn/recurrent.hpp). Each op reading a parameter contributes its own term
// (xgrad::use_contributions); a term belongs to the time step of the innermost scope "t=<k>" around the op,
// and a sequence-wide op (training's input projection) has its term split by the rows of its output gradient.
#include <algorithm>
#include <string>
#include <type_traits>

#include "../graph/contributions.hpp"
#include "recurrent.hpp"

namespace xgrad::nn {

namespace {
// k of the innermost scope "t=<k>" around node i, or npos.
constexpr std::size_t no_step = ~std::size_t{0};
std::size_t step_of(const tape& t, std::uint32_t i) {
    for (std::uint32_t s = t.at(i).scope; s != 0; s = t.scope_at(s).parent) {
        const std::string& name = t.scope_at(s).name;
        if (name.size() < 3 || name.compare(0, 2, "t=") != 0 ||
            name.find_first_not_of("0123456789", 2) != std::string::npos)
            continue;
        return std::stoul(name.substr(2));
    }
    return no_step;
}

void add_into(tensor& acc, const tensor& term) {
    acc.visit([&](auto& a) {
        using T = typename std::decay_t<decltype(a)>::value_type;
        const T* b = term.data<T>();
        T* d = a.data();
        for (std::size_t k = 0; k < a.size(); ++k) d[k] += b[k];
    });
}

// The output gradient g [batch, steps, f] kept at rows [:, k] only.
tensor step_rows(const tensor& g, std::size_t k) {
    tensor m = tensor::zeros(g.shape(), g.dtype());
    const std::size_t B = g.shape()[0], S = g.shape()[1], F = g.size() / (B * S);
    m.visit([&](auto& a) {
        using T = typename std::decay_t<decltype(a)>::value_type;
        const T* src = g.data<T>();
        T* dst = a.data();
        for (std::size_t b = 0; b < B; ++b)
            std::copy_n(src + (b * S + k) * F, F, dst + (b * S + k) * F);
    });
    return m;
}
}  // namespace

std::vector<tensor> step_terms(tape& t, const parameter& w, std::size_t steps) {
    std::vector<tensor> out;
    out.reserve(steps);
    for (std::size_t k = 0; k < steps; ++k) out.push_back(tensor::zeros(w.shape(), w.dtype()));
    for (const auto& u : use_contributions(t, w)) {
        const std::size_t k = step_of(t, u.node);
        if (k != no_step && k < steps) {
            add_into(out[k], u.term);
            continue;
        }
        const tensor& y = t.value(u.node);
        if (k != no_step || y.dim() != 3 || y.shape()[1] != steps || y.shape()[0] == 0)
            throw argument_error("nn::step_terms: '" + std::string(t.at(u.node).op_name) + "' (" + t.where(u.node) +
                                 ", output " + shape_str(y.shape()) + ") reads '" + w.name() +
                                 "' outside the time steps 0.." + std::to_string(steps - 1) +
                                 " and its output is no sequence [batch, " + std::to_string(steps) +
                                 ", ...] to split by step; pass the number of steps of the layer's latest call");
        const tensor& g = t.grad(u.node);
        for (std::size_t s = 0; s < steps; ++s) {
            const tensor rows = step_rows(g, s);
            add_into(out[s], use_contribution_of(t, u.node, w, &rows));
        }
    }
    return out;
}

std::vector<tensor> recurrent_base::step_terms(const parameter& w) const {
    bool mine = false;
    for (const auto& p : layers_)
        for (const parameter* q : {&p.w_ih, &p.w_hh, &p.b_ih, &p.b_hh, &p.b})
            if (q->state_ptr() && q->same_as(w)) mine = true;
    if (!mine)
        throw argument_error("nn::" + type_name() + "::step_terms: '" + w.name() +
                             "' is not a parameter of this layer; pass layer(l).w_hh or layer(l).w_ih");
    if (step_h_.empty() || step_h_.front().is_stale())
        throw argument_error("nn::" + type_name() + "::step_terms: no forward pass on a live tape; call the layer, "
                             "then backward(), then step_terms()");
    return nn::step_terms(step_h_.front().owner(), w, step_h_.size());
}

}  // namespace xgrad::nn
