#pragma once
// sequential: a chain of steps with var -> var forward, each a module it owns (named like the
// step, so parameters read "0.weight_ih_l0" or "lstm.weight_ih_l0") or a plain function
// (an activation, a reshape, a select of the last step).
//
//   nn::sequential model;
//   model.emplace<nn::lstm>("lstm", nn::recurrent_options{.input_size = 1, .hidden_size = 50});
//   model.emplace<nn::linear>("head", 50, 1);
//   var y = model(x);   // head(lstm(x))
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../graph/tape.hpp"
#include "module.hpp"

namespace xgrad::nn {

class sequential : public module {
public:
    using step_fn = std::function<var(const var&)>;
    sequential() : module("sequential") {}

    // Builds a module M(args...) owned by this container and appends its forward (M must be
    // callable as m(x)). Returns the module, e.g. to read an rnn's final_h() later.
    template <class M, class... Args>
    M& emplace(std::string name, Args&&... args) {
        auto owned = std::make_unique<M>(std::forward<Args>(args)...);
        M& m = *owned;
        register_module(name, m);
        steps_.push_back({std::move(name), [&m](const var& x) { return m(x); }});
        owned_.push_back(std::move(owned));
        return m;
    }
    // Appends a parameterless step.
    void add(std::string name, step_fn f) { steps_.push_back({std::move(name), std::move(f)}); }

    var operator()(const var& x) const;
    std::size_t size() const { return steps_.size(); }
    const std::string& step_name(std::size_t i) const { return steps_.at(i).name; }

private:
    struct step {
        std::string name;
        step_fn f;
    };
    std::vector<step> steps_;
    std::vector<std::unique_ptr<module>> owned_;
};

}  // namespace xgrad::nn
