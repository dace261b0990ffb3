#pragma once
// Optimizers: sgd (momentum, Nesterov, weight decay), adam, adamw and rmsprop.
//
// An optimizer holds handles to parameters (with their names) and, per parameter, its state buffers
// (momentum, Adam's moments, ...), allocated on the first step that updates that parameter. step()
// updates every parameter that requires a gradient and has one; frozen parameters
// (requires_grad false) and parameters no backward reached (gradient undefined) are skipped and their
// state is left alone. Updates are elementwise loops over raw memory: after the first step nothing
// is allocated.
//
// Each options struct defaults to PyTorch's hyper-parameters; its static keras() gives Keras'
// (including where Keras puts epsilon). The update rules follow torch.optim; for a constant learning
// rate they equal Keras' (which folds the learning rate into the momentum buffer).
//
// state()/load_state() give the state as named tensors for checkpoints:
//   "<opt>.step"              0-d float64: number of step() calls
//   "<opt>.<slot>.<param>"    a buffer, e.g. "adam.m.rnn.weight_hh_l0", in the parameter's shape and dtype
//   "<opt>.count.<param>"     0-d float64: updates applied to that parameter (Adam's bias correction)
// Hyper-parameters (learning rate, ...) are not part of the state: the optimizer keeps its own.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../graph/parameter.hpp"
#include "module.hpp"

namespace xgrad::nn {

using named_tensors = std::vector<std::pair<std::string, tensor>>;
using named_parameters_t = std::vector<std::pair<std::string, parameter>>;

class optimizer {
public:
    virtual ~optimizer() = default;
    optimizer(const optimizer&) = delete;
    optimizer& operator=(const optimizer&) = delete;

    // "sgd", "adam", "adamw", "rmsprop": the prefix of every state name.
    const std::string& name() const { return name_; }

    // Update every trainable parameter with a gradient, then count the step.
    void step();
    // Fill every gradient with zeros (buffers are kept, so nothing is allocated next pass).
    void zero_grad();

    double lr() const { return lr_; }
    void set_lr(double lr);
    std::uint64_t steps() const { return steps_; }
    const named_parameters_t& params() const { return params_; }
    // The per-parameter buffers this optimizer keeps, e.g. {"m", "v"} for Adam.
    const std::vector<std::string>& slot_names() const { return slot_names_; }

    // The state as named tensors (copies), in a stable order.
    named_tensors state() const;
    // Every problem with `entries` as state of this optimizer (unknown names, a parameter this
    // optimizer does not hold, wrong shape or dtype), one line each; empty when it can be loaded.
    std::vector<std::string> check_state(const named_tensors& entries) const;
    // Replace the state with `entries` (as state() wrote them). Parameters without entries start
    // from fresh state. Throws argument_error listing every problem of check_state.
    void load_state(const named_tensors& entries);

protected:
    // Parameters from a module (named as module::named_parameters) or a list (named by
    // parameter::name(), or "p<i>" when that is empty).
    optimizer(std::string name, const module& m, double lr, std::vector<std::string> slots);
    optimizer(std::string name, const std::vector<parameter>& ps, double lr, std::vector<std::string> slots);

    // Per parameter: its state buffers (one per slot, same shape and dtype as the value) and
    // the number of updates it received before this one.
    struct param_slots {
        std::vector<tensor> buf;
        std::uint64_t count = 0;
    };
    // Apply one update to p (value, grad and buffers already checked: same dtype and size), writing
    // the value through parameter::update_in_place.
    virtual void update(parameter& p, param_slots& s) = 0;
    // Whether slot k holds a mean of squares (never negative: check_state refuses negative values).
    virtual bool slot_is_nonnegative(std::size_t /*k*/) const { return false; }

private:
    void validate();
    void prepare(std::size_t i);
    std::string name_;
    double lr_;
    std::vector<std::string> slot_names_;
    named_parameters_t params_;
    std::vector<param_slots> state_;
    std::uint64_t steps_ = 0;
};

// ---- SGD -------------------------------------------------------------------------------------------
// g ← grad + wd·w;  b ← g (first update), else b ← μ·b + (1 − dampening)·g;
// w ← w − lr·(g + μ·b) with nesterov, w − lr·b with momentum, w − lr·g without.
// PyTorch: lr 1e-3 (must be given before 2.x), momentum 0, dampening 0, nesterov false, wd 0.
// Keras:   lr 0.01, momentum 0, nesterov false (Keras' v ← μv − lr·g; w ← w + v is the same update).
struct sgd_options {
    double lr = 1e-3;
    double momentum = 0;
    double dampening = 0;
    bool nesterov = false;
    double weight_decay = 0;  // L2 penalty added to the gradient
    static sgd_options keras() { return {.lr = 0.01}; }
};

class sgd : public optimizer {
public:
    sgd(const module& m, const sgd_options& o = {});
    sgd(const std::vector<parameter>& ps, const sgd_options& o = {});
    const sgd_options& options() const { return o_; }

protected:
    void update(parameter& p, param_slots& s) override;

private:
    sgd_options o_;
};

// ---- Adam / AdamW ------------------------------------------------------------------------------------
// t = updates of this parameter + 1;  g ← grad + wd·w (adam: coupled L2);  w ← (1 − lr·wd)·w (adamw);
// m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
// PyTorch:  w ← w − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
// Keras:    w ← w − lr·√(1 − β2ᵗ)/(1 − β1ᵗ) · m / (√v + ε)        (keras_epsilon: ε not bias-corrected)
// With keras_epsilon the arithmetic is TensorFlow's ApplyAdam kernel's (what tf.keras 2's Adam runs)
// operation for operation, in the parameter's dtype: β, lr and t rounded to it once;
// α = lr·√(1 − β2ᵗ)/(1 − β1ᵗ); m ← m + (g − m)·(1 − β1); v ← v + (g² − v)·(1 − β2);
// w ← w − (m·α)/(√v + ε). So float32 runs use the same float β in the moments and the bias corrections
// (Keras 3's update_step rounds 1 − β from double for the moments instead: its float32 steps are about
// 6.7e-6 smaller, relatively). Without keras_epsilon the bias corrections are computed in double from the
// double β, as PyTorch computes them in Python.
// PyTorch Adam:  lr 1e-3, β (0.9, 0.999), ε 1e-8, wd 0.    PyTorch AdamW: same with wd 1e-2.
// Keras Adam:    lr 1e-3, β (0.9, 0.999), ε 1e-7.           Keras AdamW:  same with wd 4e-3.
struct adam_options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0;
    bool keras_epsilon = false;
    static adam_options keras() { return {.eps = 1e-7, .keras_epsilon = true}; }
};

class adam : public optimizer {
public:
    adam(const module& m, const adam_options& o = {});
    adam(const std::vector<parameter>& ps, const adam_options& o = {});
    const adam_options& options() const { return o_; }

protected:
    adam(std::string name, const module& m, const adam_options& o, bool decoupled);
    adam(std::string name, const std::vector<parameter>& ps, const adam_options& o, bool decoupled);
    void update(parameter& p, param_slots& s) override;
    bool slot_is_nonnegative(std::size_t k) const override { return k == 1; }  // v

private:
    adam_options o_;
    bool decoupled_;
};

// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter): w ← (1 − lr·wd)·w before the Adam step.
// The same fields as adam_options; only the default weight decay differs.
struct adamw_options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 1e-2;
    bool keras_epsilon = false;
    static adamw_options keras() { return {.eps = 1e-7, .weight_decay = 4e-3, .keras_epsilon = true}; }
};

class adamw : public adam {
public:
    adamw(const module& m, const adamw_options& o = {});
    adamw(const std::vector<parameter>& ps, const adamw_options& o = {});
};

// ---- RMSprop ---------------------------------------------------------------------------------------
// g ← grad + wd·w;  v ← α·v + (1 − α)·g²;  centered: a ← α·a + (1 − α)·g, v̂ = v − a², else v̂ = v;
// PyTorch: d = √v̂ + ε;   Keras (keras_epsilon): d = √(v̂ + ε);
// b ← μ·b + g/d, w ← w − lr·b (momentum > 0), else w ← w − lr·g/d.
// PyTorch: lr 1e-2, α 0.99, ε 1e-8, momentum 0, centered false.  Keras: lr 1e-3, ρ 0.9, ε 1e-7.
struct rmsprop_options {
    double lr = 1e-2;
    double alpha = 0.99;  // Keras calls it rho
    double eps = 1e-8;
    double momentum = 0;
    bool centered = false;
    double weight_decay = 0;
    bool keras_epsilon = false;
    static rmsprop_options keras() { return {.lr = 1e-3, .alpha = 0.9, .eps = 1e-7, .keras_epsilon = true}; }
};

class rmsprop : public optimizer {
public:
    rmsprop(const module& m, const rmsprop_options& o = {});
    rmsprop(const std::vector<parameter>& ps, const rmsprop_options& o = {});
    const rmsprop_options& options() const { return o_; }

protected:
    void update(parameter& p, param_slots& s) override;
    bool slot_is_nonnegative(std::size_t k) const override { return k == 0; }  // square_avg

private:
    rmsprop_options o_;
};

}  // namespace xgrad::nn
