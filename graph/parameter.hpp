#pragma once
// parameter: a trainable tensor that outlives tapes. It owns its value and its gradient; the
// gradient accumulates over backward() calls until zero_grad(). The first use on a tape (in a
// generation) creates one leaf node for it and later uses reuse that node, so a weight shared by
// every time step is one node fanning out, and its gradient is the sum over steps.
// Copies of a parameter are handles to the same state (like a torch tensor).
#include <memory>
#include <string>

#include "tape.hpp"

namespace xgrad {

struct param_state {
    tensor value;
    tensor grad;  // undefined until the first backward reaches it; read it through grad()
    // zero_grad() does not touch the buffer: it sets grad_zero, and the buffer is zero-filled when
    // something reads it (grad()), or overwritten by the first rule that writes all of it (a weight
    // gradient's product with beta = 0). At LSTM 1024 that is a 16 MB fill and a 16 MB read less per
    // training step.
    bool grad_zero = false;
    tensor& grad_filled() {
        if (grad_zero) {
            if (grad.defined()) grad.fill(0.0);
            grad_zero = false;
        }
        return grad;
    }
    std::string name;
    bool requires_grad = true;
    // Bumped by every mutable access to the value (parameter::value()), so caches derived from the
    // value (linear()'s transposed weight) know when it may have changed.
    std::uint64_t version = 0;
    // Copies of the value in the layouts linear()'s products read fastest (ops/linalg.cpp): the weight
    // transposed, or packed for xgrad's own GEMM, one for the forward product (fwd_copy) and one for
    // dX in backward (bwd_copy). A copy is valid while its version equals the parameter's and its form
    // is the one asked for, and only in the tape generation that made it: the first use in a new
    // generation drops it, unless an optimizer step re-packed it since (the built-in optimizers re-pack
    // each strip of rows they have just written, while it is in cache; copies_refreshed says so).
    struct weight_copy {
        std::uint64_t version = ~std::uint64_t{0};
        int form = 0;
        tensor data;
    };
    weight_copy fwd_copy, bwd_copy;
    bool copies_refreshed = false;
    // The leaf node of this parameter on the tape that used it last.
    std::uint64_t tape_id = 0;
    std::uint32_t tape_gen = 0;
    std::uint32_t tape_index = 0;
};

class parameter {
public:
    parameter() = default;
    explicit parameter(tensor value, std::string name = {}, bool requires_grad = true);

    // The parameter's leaf node on the active tape.
    var v() const;
    operator var() const { return v(); }  // NOLINT: lets parameters go straight into ops

    bool defined() const { return s_ != nullptr; }
    const tensor& value() const { return state().value; }
    tensor& value() {
        param_state& s = state();
        ++s.version;
        return s.value;
    }
    // dL/dparameter accumulated since the last zero_grad() (undefined if never reached).
    const tensor& grad() const { return state().grad_filled(); }
    tensor& grad() { return state().grad_filled(); }
    void zero_grad();

    const std::string& name() const { return state().name; }
    void set_name(std::string name) { state().name = std::move(name); }
    bool requires_grad() const { return state().requires_grad; }
    void set_requires_grad(bool on) { state().requires_grad = on; }
    const shape_t& shape() const { return value().shape(); }
    xgrad::dtype dtype() const { return value().dtype(); }
    std::size_t size() const { return value().size(); }
    // Convert value (and gradient) to another dtype in place.
    void cast(xgrad::dtype d);

    bool same_as(const parameter& o) const { return s_ == o.s_; }
    const std::shared_ptr<param_state>& state_ptr() const { return s_; }

private:
    param_state& state() const;
    std::shared_ptr<param_state> s_;
};

}  // namespace xgrad
