#pragma once
// parameter: a trainable tensor that outlives tapes. It owns its value and its gradient; the
// gradient accumulates over backward() calls until zero_grad(). The first use on a tape (in a
// generation) creates one leaf node for it and later uses reuse that node, so a weight shared by
// every time step is one node fanning out, and its gradient is the sum over steps.
// Copies of a parameter are handles to the same state (like a torch tensor).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tape.hpp"

namespace xgrad {

class parameter;

// State that code reading a parameter derives from its value and keeps with it (e.g. the value in
// another layout that a kernel reads faster): one opaque slot, param_state::derived, filled and
// dropped by its owner, which checks param_state::version to know whether it is still current.
// graph/ only keeps it, and lets it follow an in-place update row by row (parameter::update_in_place).
class derived_state {
public:
    virtual ~derived_state() = default;
    // An in-place update of the value begins (the version has not moved yet): how many rows of the
    // value the update should write between calls of rows_updated, or 0 for all at once.
    virtual std::size_t begin_update(const param_state& p) = 0;
    // Rows [r0, r1) of the value were just written.
    virtual void rows_updated(const param_state& p, std::size_t r0, std::size_t r1) = 0;
    // The update is complete; p.version is the value's new version.
    virtual void end_update(const param_state& p) = 0;
};

struct param_state {
    tensor value;
    // The accumulated gradient, undefined until the first backward reaches it. When grad_fresh
    // (zero_grad() since) its contents are undefined and mean zero: zero_grad() only marks it, a
    // read zero-fills it (materialized_grad()), and the first rule that writes all of it stores.
    tensor grad;
    bool grad_fresh = false;
    tensor& materialized_grad() {
        if (grad_fresh) {
            if (grad.defined()) grad.fill(0.0);
            grad_fresh = false;
        }
        return grad;
    }
    std::string name;
    bool requires_grad = true;
    // Changes whenever the value may have changed: on every mutable access (parameter::value()), on
    // update_in_place, and when a new leaf is made for the parameter (a new generation's forward
    // pass), unless the last change was an update_in_place. (A reference kept from value() can
    // change the value with no further access; a new forward pass is where that would first be read.)
    std::uint64_t version = 0;
    bool updated_in_place = false;  // the last change was update_in_place (derived state followed it)
    std::unique_ptr<derived_state> derived;
    // Run when a sweep has finished writing the gradient (parameter::add_grad_hook).
    std::vector<std::pair<std::size_t, std::function<void(parameter&)>>> grad_hooks;
    std::size_t next_hook_id = 0;
    // The leaf node of this parameter on the tape that used it last.
    std::uint64_t tape_id = 0;
    std::uint64_t tape_gen = 0;
    std::uint32_t tape_index = 0;
};

class parameter {
public:
    parameter() = default;
    explicit parameter(tensor value, std::string name = {}, bool requires_grad = true);
    // A handle to existing state (what param_state's hooks receive).
    explicit parameter(std::shared_ptr<param_state> s) : s_(std::move(s)) {}

    // The parameter's leaf node on the active tape.
    var v() const;
    operator var() const { return v(); }  // NOLINT: lets parameters go straight into ops

    bool defined() const { return s_ != nullptr; }
    const tensor& value() const { return state().value; }
    tensor& value() {
        param_state& s = state();
        ++s.version;
        s.updated_in_place = false;
        return s.value;
    }
    // Changes the value in place, elementwise: body(w, begin, end) with w the value's first element
    // (of type T, the value's dtype) is called over consecutive element ranges covering [0, size())
    // once, in order; between ranges, derived state refreshes itself from the rows just written.
    // Counts as a change of the value. This is how optimizers write.
    template <class T, class F>
    void update_in_place(F body) {
        update_rows(
            [](void* f, void* w, std::size_t b, std::size_t e) { (*static_cast<F*>(f))(static_cast<T*>(w), b, e); },
            &body);
    }
    // dL/dparameter accumulated since the last zero_grad() (undefined if never reached).
    const tensor& grad() const { return state().materialized_grad(); }
    tensor& grad() { return state().materialized_grad(); }
    void zero_grad();

    // f(p) runs each time a backward sweep has finished writing this parameter's gradient: when the
    // sweep reaches its leaf, so every op that read it has run (and before the sweep goes on to
    // earlier nodes). Not for a sweep that does not reach it. Returns an id for remove_grad_hook.
    std::size_t add_grad_hook(std::function<void(parameter&)> f);
    void remove_grad_hook(std::size_t id);

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
    void update_rows(void (*body)(void*, void*, std::size_t, std::size_t), void* ctx);
    param_state& state() const;
    std::shared_ptr<param_state> s_;
};

}  // namespace xgrad
