// use_contributions: each use's term of a parameter's gradient, re-run from the tape (see contributions.hpp).
#include "contributions.hpp"

#include <algorithm>
#include <utility>

namespace xgrad {

// Re-runs one rule with the tape's private state set aside and restored (friend of tape).
struct use_contribution_access {
    static std::uint32_t leaf_of(const tape& t, const parameter& p) {
        const param_state& s = *p.state_ptr();
        if (s.tape_id != t.id() || s.tape_gen != t.generation() || s.tape_index >= t.size() ||
            t.at(s.tape_index).param != p.state_ptr())
            throw argument_error("xgrad::use_contributions: parameter '" + s.name +
                                 "' has no leaf on this tape since its last clear(); run the forward pass and "
                                 "backward() on this tape first");
        return s.tape_index;
    }

    static bool reads(const node& n, std::uint32_t leaf) {
        return std::find(n.inputs.begin(), n.inputs.end(), leaf) != n.inputs.end();
    }

    static bool reached(const node& n) { return n.kind == node_kind::op && n.backward && n.requires_grad && n.grad_ready; }

    static tensor eval(tape& t, std::uint32_t j, std::uint32_t leaf, const tensor* grad_out) {
        node& n = t.nodes_[j];
        param_state& p = *t.nodes_[leaf].param;
        t.grad(j);  // a fresh output gradient reads as zeros from here on

        // Everything the rule may touch, set aside; restored by the destructor (also on a throw).
        struct side {
            std::uint32_t k;
            bool requires_grad, grad_ready, grad_fresh;
            tensor grad;
        };
        struct guard {
            tape& t;
            node& n;
            param_state& p;
            std::vector<side> others;
            tensor term, out_grad;
            bool p_fresh = false, p_swapped = false, out_swapped = false;
            std::vector<std::pair<std::uint32_t, leaf_finisher>> finishers;
            ~guard() {
                t.finishers_ = std::move(finishers);
                if (out_swapped) std::swap(n.grad, out_grad);
                if (p_swapped) {
                    std::swap(p.grad, term);
                    p.grad_fresh = p_fresh;
                }
                for (auto it = others.rbegin(); it != others.rend(); ++it) {
                    node& nk = t.nodes_[it->k];
                    nk.requires_grad = it->requires_grad;
                    if (nk.param) {
                        std::swap(nk.param->grad, it->grad);
                        nk.param->grad_fresh = it->grad_fresh;
                    } else {
                        std::swap(nk.grad, it->grad);
                        nk.grad_ready = it->grad_ready;
                        nk.grad_fresh = it->grad_fresh;
                    }
                }
            }
        } g{t, n, p, {}, tensor::empty(p.value.shape(), p.value.dtype()), {}, false, false, false, {}};
        g.finishers = std::move(t.finishers_);
        t.finishers_.clear();

        for (std::uint32_t k : n.inputs) {
            if (k == leaf || std::any_of(g.others.begin(), g.others.end(), [k](const side& s) { return s.k == k; }))
                continue;
            node& nk = t.nodes_[k];
            side s{k, nk.requires_grad, nk.grad_ready, nk.param ? nk.param->grad_fresh : nk.grad_fresh, tensor()};
            g.others.push_back(std::move(s));
            side& b = g.others.back();
            nk.requires_grad = false;  // a rule skips it; should it write anyway, it writes into a buffer set aside
            if (nk.param) {
                std::swap(nk.param->grad, b.grad);
            } else {
                std::swap(nk.grad, b.grad);
                nk.grad_ready = false;
            }
        }
        std::swap(p.grad, g.term);  // p's buffer: fresh, so the rule stores its term
        g.p_fresh = p.grad_fresh;
        g.p_swapped = true;
        p.grad_fresh = true;
        if (grad_out) {
            g.out_grad = *grad_out;
            std::swap(n.grad, g.out_grad);
            g.out_swapped = true;
        }

        backward_ctx c(t, j);
        n.backward(c);
        for (const auto& [l, f] : t.finishers_)  // held-back work on p's leaf: this use's part only
            if (l == leaf) f(t, leaf);
        t.finishers_.clear();
        if (p.grad_fresh) p.grad.fill(0.0);  // nothing written: this use adds zero
        p.grad_fresh = false;
        std::swap(p.grad, g.term);
        p.grad_fresh = g.p_fresh;
        g.p_swapped = false;
        return std::move(g.term);
    }
};

std::vector<use_contribution> use_contributions(tape& t, const parameter& p) {
    const std::uint32_t leaf = use_contribution_access::leaf_of(t, p);
    std::vector<use_contribution> out;
    if (!t.at(leaf).requires_grad) return out;
    for (std::size_t j = leaf + 1; j < t.size(); ++j) {
        const node& n = t.at(j);
        if (!use_contribution_access::reached(n) || !use_contribution_access::reads(n, leaf)) continue;
        out.push_back({static_cast<std::uint32_t>(j), use_contribution_access::eval(t, static_cast<std::uint32_t>(j), leaf, nullptr)});
    }
    return out;
}

tensor use_contribution_at(tape& t, std::uint32_t j, std::uint32_t leaf, const tensor* grad_out) {
    if (leaf >= t.size() || t.at(leaf).kind != node_kind::parameter || !t.at(leaf).param)
        throw argument_error("xgrad::use_contribution_at: node " + std::to_string(leaf) + " is no parameter's leaf");
    const std::string& pname = t.at(leaf).param->name;
    if (j >= t.size() || j <= leaf || !use_contribution_access::reads(t.at(j), leaf))
        throw argument_error("xgrad::use_contribution_of: node " + std::to_string(j) + " does not read parameter '" +
                             pname + "'; take the nodes from use_contributions()");
    const node& n = t.at(j);
    if (!t.at(leaf).requires_grad || !use_contribution_access::reached(n))
        throw argument_error("xgrad::use_contribution_of: '" + std::string(n.op_name) + "' (" + t.where(j) +
                             ") was not reached by the latest backward(), so it added nothing to '" + pname +
                             "'; run backward() first");
    if (grad_out && (grad_out->dtype() != n.value.dtype() || !same_shape(grad_out->shape(), n.value.shape())))
        throw shape_error("xgrad::use_contribution_of: the output gradient is " + shape_str(grad_out->shape()) + " " +
                          dtype_name(grad_out->dtype()) + " but '" + n.op_name + "' (" + t.where(j) + ") outputs " +
                          shape_str(n.value.shape()) + " " + dtype_name(n.value.dtype()));
    return use_contribution_access::eval(t, j, leaf, grad_out);
}

tensor use_contribution_of(tape& t, std::uint32_t j, const parameter& p, const tensor* grad_out) {
    return use_contribution_at(t, j, use_contribution_access::leaf_of(t, p), grad_out);
}

}  // namespace xgrad
