#pragma once
// module: the base of every layer and model. It names its parameters recursively
// ("rnn.weight_hh_l0"), and offers parameters(), zero_grad(), freeze/unfreeze by name,
// cast to a dtype, a parameter count and a Keras-like summary(), and a training / evaluation mode
// (train(), eval(): dropout is active in training only).
//
// A model registers its parameters and its child modules (members) in its constructor:
//   struct my_model : nn::module {
//       nn::rnn rnn{{.input_size = 1, .hidden_size = 50}};
//       nn::linear head{50, 1};
//       my_model() : module("my_model") { register_module("rnn", rnn); register_module("head", head); }
//   };
// Modules hold pointers to their children, so they are neither copyable nor movable.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../graph/parameter.hpp"

namespace xgrad::nn {

class module {
public:
    explicit module(std::string type_name) : type_name_(std::move(type_name)) {}
    virtual ~module() = default;
    module(const module&) = delete;
    module& operator=(const module&) = delete;

    const std::string& type_name() const { return type_name_; }

    // Every parameter, depth first in registration order, with its dotted name.
    std::vector<std::pair<std::string, parameter>> named_parameters() const;
    std::vector<parameter> parameters() const;
    // The parameter of that full name; throws argument_error listing the known names.
    parameter find(std::string_view name) const;
    std::vector<std::pair<std::string, const module*>> children() const;

    void zero_grad();
    // Freeze (requires_grad = false) every parameter whose name equals `name` or starts with
    // `name` + "."; "rnn" freezes all of rnn's parameters. Throws argument_error if none match.
    void freeze(std::string_view name);
    void unfreeze(std::string_view name);
    void freeze_all();
    void unfreeze_all();
    // Convert every parameter (value and gradient) to d.
    void cast(dtype d);

    // Training mode (on, the default of every new module) or evaluation mode (off) for this module and,
    // recursively, every registered child. Only layers that behave differently in training read it:
    // dropout (nn::dropout, recurrent_options::dropout) is the identity in evaluation mode.
    void train(bool on = true);
    void eval() { train(false); }
    bool is_training() const { return training_; }

    std::size_t parameter_count(bool trainable_only = false) const;
    // A table of parameters: name, shape, dtype, count, trainable; then the totals.
    std::string summary() const;

protected:
    parameter& register_parameter(std::string name, tensor value);
    void register_module(std::string name, module& child);

private:
    void set_requires_grad(std::string_view name, bool on);
    std::string type_name_;
    bool training_ = true;
    std::vector<std::pair<std::string, parameter>> params_;
    std::vector<std::pair<std::string, module*>> children_;
};

// A module's mode for a scope: train(training) now, the mode it had back at the end (m.train(was),
// applied recursively as train() is). nn::fit trains in training mode; evaluate, evaluate_task and
// predict_outputs run in evaluation mode (dropout off), whatever mode the caller left the model in.
class mode_guard {
public:
    mode_guard(module& m, bool training) : m_(m), was_(m.is_training()) { m.train(training); }
    ~mode_guard() { m_.train(was_); }
    mode_guard(const mode_guard&) = delete;
    mode_guard& operator=(const mode_guard&) = delete;

private:
    module& m_;
    bool was_;
};

}  // namespace xgrad::nn
