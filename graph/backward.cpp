// The reverse sweep. A plain loop from the root down to node 0 (never recursion, so a
// 10,000-step unroll cannot overflow the stack). Each rule adds into its inputs' gradient
// buffers; the engine then checks every buffer still has its input's shape (a wrong rule fails
// loudly, naming the op and the input) and, in anomaly mode, that it is finite.
#include "parameter.hpp"
#include "tape.hpp"

namespace xgrad {

namespace {
std::string input_shapes(const tape& t, const node& n) {
    std::string s;
    for (std::size_t j = 0; j < n.inputs.size(); ++j) {
        if (j) s += ", ";
        s += shape_str(t.value(n.inputs[j]).shape());
    }
    return s;
}

std::string where(const tape& t, std::size_t i) {
    const node& n = t.at(i);
    std::string w = "node " + std::to_string(i);
    if (n.scope) w += ", scope '" + t.scope_path(n.scope) + "'";
    return w;
}
}  // namespace

backward_ctx::backward_ctx(tape& t, std::uint32_t index)
    : grad_out(t.at(index).grad), out(t.at(index).value), self(t.at(index)), t_(t) {}

tensor& tape::grad_slot(std::uint32_t i) {
    node& n = nodes_[i];
    if (n.param) {
        param_state& p = *n.param;
        if (!p.grad.defined() || p.grad.dtype() != p.value.dtype() || !same_shape(p.grad.shape(), p.value.shape())) {
            p.grad = tensor::zeros(p.value.shape(), p.value.dtype());
            p.grad_zero = false;
        }
        n.grad_ready = true;
        return p.grad_filled();
    }
    if (!n.grad_ready) {
        const tensor& v = value(i);
        n.grad.reshape_storage(v.shape(), v.dtype());
        n.grad.fill(0.0);
        n.grad_ready = true;
    }
    return n.grad;
}

tensor& tape::grad_slot_unfilled(std::uint32_t i) {
    node& n = nodes_[i];
    if (!n.param) return grad_slot(i);
    param_state& p = *n.param;
    if (!p.grad.defined() || p.grad.dtype() != p.value.dtype() || !same_shape(p.grad.shape(), p.value.shape())) {
        p.grad = tensor::empty(p.value.shape(), p.value.dtype());
        p.grad_zero = true;
    }
    n.grad_ready = true;
    return p.grad;
}

tensor& tape::grad_slot_for_write(std::uint32_t i, bool& assign) {
    node& n = nodes_[i];
    if (n.param) {  // parameters accumulate across passes until zero_grad(), which leaves grad_zero set
        tensor& g = grad_slot_unfilled(i);
        assign = n.param->grad_zero;
        n.param->grad_zero = false;
        return g;
    }
    assign = !n.grad_ready;
    if (!assign) return grad_slot(i);
    const tensor& v = value(i);
    n.grad.reshape_storage(v.shape(), v.dtype());
    n.grad_ready = true;
    return n.grad;
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
    grad_slot(r).visit([](auto& g) { g.data()[0] += 1; });  // seed dL/dL = 1 without allocating a tensor
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

    tensor& g = grad_slot(r);
    seed.visit([&](const auto& s) {
        auto& d = g.array<typename std::decay_t<decltype(s)>::value_type>();
        for (std::size_t k = 0; k < s.size(); ++k) d.data()[k] += s.data()[k];
    });

    sweep(r);
}

void tape::sweep(std::uint32_t r) {
    const bool anomaly = anomaly_enabled();
    static const tensor no_grad;
    ++sweeps_;
    at_sweep_end_.clear();
    for (std::size_t i = r + 1; i-- > 0;) {
        node& n = nodes_[i];
        if (n.kind != node_kind::op || !n.requires_grad || !n.grad_ready || !n.backward) continue;
        backward_ctx c(*this, static_cast<std::uint32_t>(i));
        n.backward(c);
        for (std::size_t j = 0; j < n.inputs.size(); ++j) {
            const std::uint32_t k = n.inputs[j];
            if (!nodes_[k].requires_grad) continue;
            const node& nk = nodes_[k];
            // The buffer as it is: a parameter's gradient may still be marked zero (grad_zero) for a
            // product that runs at the sweep's end; it is not filled here for the checks.
            const tensor& gk = nk.param ? nk.param->grad : nk.grad_ready ? nk.grad : no_grad;
            if (!gk.defined()) continue;  // the rule chose not to propagate (e.g. integer targets)
            const tensor& vk = value(k);
            if (!same_shape(gk.shape(), vk.shape()) || gk.dtype() != vk.dtype())
                throw shape_error(std::string("xgrad: the backward rule of '") + n.op_name + "' (" + where(*this, i) +
                                  ") left a gradient of shape " + shape_str(gk.shape()) + " " +
                                  dtype_name(gk.dtype()) + " for input " + std::to_string(j) + " of shape " +
                                  shape_str(vk.shape()) + " " + dtype_name(vk.dtype()));
            if (anomaly && !(nk.param && nk.param->grad_zero) && !all_finite(gk))
                throw anomaly_error(std::string("xgrad anomaly: the backward rule of '") + n.op_name + "' (" +
                                    where(*this, i) + ", inputs " + input_shapes(*this, n) +
                                    ") produced a NaN or infinite gradient for input " + std::to_string(j));
        }
    }
    for (const auto& [index, f] : at_sweep_end_) {
        f(*this, index);
        const tensor& g = grad(index);
        if (anomaly && g.defined() && !all_finite(g))
            throw anomaly_error(std::string("xgrad anomaly: the gradient of '") + nodes_[index].name + "' (" +
                                where(*this, index) + ") is NaN or infinite after the sweep's deferred products");
    }
    at_sweep_end_.clear();
}

// ---- recording (see record.hpp) ---------------------------------------------------------------

}  // namespace xgrad
