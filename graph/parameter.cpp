#include "parameter.hpp"

namespace xgrad {

parameter::parameter(tensor value, std::string name, bool requires_grad) : s_(std::make_shared<param_state>()) {
    s_->value = std::move(value);
    s_->name = std::move(name);
    s_->requires_grad = requires_grad;
}

param_state& parameter::state() const {
    if (!s_) throw error("xgrad::parameter: this parameter is empty (default-constructed)");
    return *s_;
}

var parameter::v() const { return tape::active().use(s_ ? s_ : (state(), s_)); }

void parameter::zero_grad() {
    auto& s = state();
    if (s.grad.defined()) s.grad_zero = true;  // filled when read (param_state::grad_filled)
}

void parameter::cast(xgrad::dtype d) {
    auto& s = state();
    if (s.value.dtype() == d) return;
    s.value = s.value.to(d);
    if (s.grad.defined()) s.grad = s.grad.to(d);
    s.tape_id = 0;  // any leaf node on a tape refers to the old dtype's value
}

}  // namespace xgrad
