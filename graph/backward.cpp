// The reverse sweep. A plain loop from the root down to node 0 (never recursion, so a
// 10,000-step unroll cannot overflow the stack). Each rule writes into its inputs' gradient
// buffers; the engine then checks every buffer still has its input's shape (a wrong rule fails
// loudly, naming the op and the input) and, in anomaly mode, that it is finite. When the loop
// reaches a parameter's leaf, every op that reads it has run: its leaf finishers run, and its
// gradient is complete (the parameter's gradient hooks run).
#include "parameter.hpp"
#include "tape.hpp"

namespace xgrad {

backward_ctx::backward_ctx(tape& t, std::uint32_t index)
    : grad_out(t.at(index).grad), out(t.at(index).value), self(t.at(index)), t_(t) {}

bool backward_ctx::finish_at_leaf(std::size_t i, leaf_finisher f) {
    const std::uint32_t leaf = self.inputs[i];
    for (const auto& [l, g] : t_.finishers_)
        if (l == leaf && g == f) return false;
    t_.finishers_.emplace_back(leaf, f);
    return true;
}

grad_buffer tape::grad_buffer_of(std::uint32_t i) {
    node& n = nodes_[i];
    if (n.param) {  // accumulates across passes until zero_grad(), which leaves it fresh
        param_state& p = *n.param;
        if (!p.grad.defined() || p.grad.dtype() != p.value.dtype() || !same_shape(p.grad.shape(), p.value.shape())) {
            p.grad = tensor::empty(p.value.shape(), p.value.dtype());
            p.grad_fresh = true;
        }
        n.grad_ready = true;
        return {p.grad, p.grad_fresh};
    }
    if (!n.grad_ready) {  // the first write in this pass
        const tensor& v = value(i);
        n.grad.reshape_storage(v.shape(), v.dtype());
        n.grad_fresh = true;
        n.grad_ready = true;
    }
    return {n.grad, n.grad_fresh};
}

void tape::backward(const var& root) {
    const std::uint32_t r = index_of(root);
    const tensor& v = value(r);
    if (v.size() != 1)
        throw backward_error("xgrad::backward: the root has shape " + shape_str(v.shape()) + " (" +
                             std::to_string(v.size()) +
                             " elements); backward() without a seed needs a single-element loss. Reduce it "
                             "first (sum, mean) or pass a seed gradient of shape " +
                             shape_str(v.shape()));
    if (!nodes_[r].requires_grad)
        throw backward_error("xgrad::backward: the root does not require a gradient: no parameter or input "
                             "with requires_grad reaches it (or it was built under no_grad)");
    for (std::size_t i = 0; i <= r; ++i) nodes_[i].grad_ready = false;
    grad_buffer_of(r).for_add().visit([](auto& g) { g.data()[0] += 1; });  // dL/dL = 1, no tensor allocated
    sweep(r);
}

void tape::backward(const var& root, const tensor& seed) {
    const std::uint32_t r = index_of(root);
    const tensor& v = value(r);
    if (seed.dtype() != v.dtype() || seed.shape() != v.shape())
        throw backward_error("xgrad::backward: the seed gradient is " + shape_str(seed.shape()) + " " +
                             dtype_name(seed.dtype()) + " but the root is " + shape_str(v.shape()) + " " +
                             dtype_name(v.dtype()));
    if (!nodes_[r].requires_grad)
        throw backward_error("xgrad::backward: the root does not require a gradient: no parameter or input "
                             "with requires_grad reaches it (or it was built under no_grad)");
    for (std::size_t i = 0; i <= r; ++i) nodes_[i].grad_ready = false;
    tensor& g = grad_buffer_of(r).for_add();
    seed.visit([&](const auto& s) {
        auto& d = g.array<typename std::decay_t<decltype(s)>::value_type>();
        for (std::size_t k = 0; k < s.size(); ++k) d.data()[k] += s.data()[k];
    });
    sweep(r);
}

void tape::check_parameter_leaves(std::uint32_t r) const {
    for (std::size_t i = 0; i <= r; ++i) {
        const node& n = nodes_[i];
        if (!n.param) continue;
        const tensor& v = n.param->value;
        if (same_shape(v.shape(), n.leaf_shape) && v.dtype() == n.leaf_dtype) continue;
        std::string reader;  // the op that would read it first: its latest consumer
        for (std::size_t j = r + 1; j-- > i + 1 && reader.empty();)
            for (std::uint32_t k : nodes_[j].inputs)
                if (k == i) {
                    reader = std::string(", read by '") + nodes_[j].op_name + "' (" + where(j) + ")";
                    break;
                }
        throw backward_error("xgrad::backward: parameter '" + n.param->name + "' (" + where(i) + reader +
                             ") was " + shape_str(n.leaf_shape) + " " + dtype_name(n.leaf_dtype) +
                             " when the forward pass used it and is now " + shape_str(v.shape()) + " " +
                             dtype_name(v.dtype()) +
                             ": its value changed shape or dtype between forward and backward. Run the forward "
                             "pass again (after tape.clear()) once the parameter has its new shape");
    }
}

void tape::sweep(std::uint32_t r) {
    check_parameter_leaves(r);
    const bool anomaly = anomaly_enabled();
    finishers_.clear();
    for (std::size_t i = r + 1; i-- > 0;) {
        node& n = nodes_[i];
        if (!n.requires_grad || !n.grad_ready) continue;
        if (n.kind == node_kind::parameter) {
            finish_leaf(static_cast<std::uint32_t>(i), anomaly);
            continue;
        }
        if (n.kind != node_kind::op || !n.backward) continue;
        backward_ctx c(*this, static_cast<std::uint32_t>(i));
        n.backward(c);
        for (std::size_t j = 0; j < n.inputs.size(); ++j) {
            const std::uint32_t k = n.inputs[j];
            const node& nk = nodes_[k];
            if (!nk.requires_grad || !nk.grad_ready) continue;  // not reached: the rule chose not to propagate
            const tensor& gk = nk.param ? nk.param->grad : nk.grad;
            const tensor& vk = value(k);
            if (!same_shape(gk.shape(), vk.shape()) || gk.dtype() != vk.dtype())
                throw shape_error(std::string("xgrad: the backward rule of '") + n.op_name + "' (" + where(i) +
                                  ") left a gradient of shape " + shape_str(gk.shape()) + " " +
                                  dtype_name(gk.dtype()) + " for input " + std::to_string(j) + " of shape " +
                                  shape_str(vk.shape()) + " " + dtype_name(vk.dtype()));
            const bool fresh = nk.param ? nk.param->grad_fresh : nk.grad_fresh;  // nothing written: zero
            if (anomaly && !fresh && !all_finite(gk))
                throw anomaly_error(std::string("xgrad anomaly: the backward rule of '") + n.op_name + "' (" +
                                    where(i) + ", inputs " + input_shapes(i) +
                                    ") produced a NaN or infinite gradient for input " + std::to_string(j));
        }
    }
    finishers_.clear();
}

void tape::finish_leaf(std::uint32_t leaf, bool anomaly) {
    bool finished = false;
    for (const auto& [l, f] : finishers_)
        if (l == leaf) {
            f(*this, leaf);
            finished = true;
        }
    param_state& p = *nodes_[leaf].param;
    if (anomaly && finished && !p.grad_fresh && !all_finite(p.grad))
        throw anomaly_error("xgrad anomaly: the gradient of '" + p.name + "' (" + where(leaf) +
                            ") is NaN or infinite once the products held back for its leaf were added");
    if (p.grad_hooks.empty()) return;
    parameter handle(nodes_[leaf].param);
    for (std::size_t h = 0; h < p.grad_hooks.size(); ++h) p.grad_hooks[h].second(handle);
}

}  // namespace xgrad
