#include "parameter.hpp"

#include <algorithm>

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
    if (s.grad.defined()) s.grad_fresh = true;  // filled when read (param_state::materialized_grad)
}

void parameter::update_rows(void (*body)(void*, void*, std::size_t, std::size_t), void* ctx) {
    param_state& s = state();
    void* w = s.value.visit([](auto& a) -> void* { return a.data(); });
    const std::size_t n = s.value.size();
    const std::size_t rows = s.derived && s.value.dim() == 2 ? s.derived->begin_update(s) : 0;
    if (rows == 0) {
        body(ctx, w, 0, n);
    } else {
        const std::size_t count = s.value.shape()[0], cols = s.value.shape()[1];
        for (std::size_t r0 = 0; r0 < count; r0 += rows) {
            const std::size_t r1 = std::min(count, r0 + rows);
            body(ctx, w, r0 * cols, r1 * cols);
            s.derived->rows_updated(s, r0, r1);
        }
    }
    ++s.version;
    s.updated_in_place = true;
    if (rows != 0) s.derived->end_update(s);
}

std::size_t parameter::add_grad_hook(std::function<void(parameter&)> f) {
    auto& s = state();
    s.grad_hooks.emplace_back(s.next_hook_id, std::move(f));
    return s.next_hook_id++;
}

void parameter::remove_grad_hook(std::size_t id) {
    auto& h = state().grad_hooks;
    h.erase(std::remove_if(h.begin(), h.end(), [id](const auto& e) { return e.first == id; }), h.end());
}

void parameter::cast(xgrad::dtype d) {
    auto& s = state();
    if (s.value.dtype() == d) return;
    s.value = s.value.to(d);
    if (s.grad.defined()) s.grad = s.grad.to(d);
    ++s.version;
    s.updated_in_place = false;
    s.tape_id = 0;  // any leaf node on a tape refers to the old dtype's value
}

}  // namespace xgrad
