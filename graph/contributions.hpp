#pragma once
// Where a parameter's gradient comes from: after backward, ∂L/∂p is the sum over the ops that read
// p of each one's own term (the fan-out sum backward() forms, see tape.hpp). For a recurrent weight
// those terms are backpropagation through time written out: W_hh read at step t contributes
// δ_t·h_{t-1}ᵀ (δ_t = ∂L/∂ of that op's output), and Σ_t of them is ∂L/∂W_hh.
//
//   tape t;  ... forward ...  t.backward(loss);
//   for (const auto& u : use_contributions(t, W)) std::cout << t.where(u.node) << " " << l2_norm(u.term);
//
// Each term is read from the tape, by running the use's own backward rule once more with its
// recorded output gradient and only p's gradient buffer live (fresh, so the rule stores its term;
// every other input of the op is switched off and its buffer set aside). Work the rule hands to p's
// leaf (backward_ctx::finish_at_leaf: e.g. dW summed over all steps in one product) is done right
// after, so the term is that use's alone. Nothing else changes: the tape's gradients, p's gradient
// and its hooks are as backward left them. graph/ knows no particular op: this works for every rule
// that is linear in its output gradient and writes only through grad_in, as every registered rule
// does (backward of a linear map; ops/registry.cpp gradient-checks them).
#include <cstdint>
#include <vector>

#include "parameter.hpp"
#include "tape.hpp"

namespace xgrad {

struct use_contribution {
    std::uint32_t node = 0;  // the op that reads p (tape index)
    tensor term;             // its part of this pass's ∂L/∂p, in p's shape and dtype
};

// One entry per op node that reads p's leaf on t and that the latest backward reached, in tape order.
// Σ term = the gradient this pass added to p (p.grad() when it was zeroed before the pass), up to the
// order of the additions. Throws argument_error when p has no leaf on t in its current generation.
std::vector<use_contribution> use_contributions(tape& t, const parameter& p);

// The term of the use at tape index `node` alone. With grad_out (the node's output shape and
// dtype), the term that output gradient would give instead of the recorded one: a part of the
// recorded gradient (e.g. one time step's rows) gives that part's share of the term, since a
// backward rule is linear in its output gradient. Throws argument_error when `node` does not read p
// or was not reached by the latest backward, shape_error for a grad_out of another shape or dtype.
tensor use_contribution_of(tape& t, std::uint32_t node, const parameter& p, const tensor* grad_out = nullptr);

// The same for the parameter leaf at tape index `leaf` (e.g. a node's input, as DOT export reads it;
// a tape drawn after its parameters were used on another tape).
tensor use_contribution_at(tape& t, std::uint32_t node, std::uint32_t leaf, const tensor* grad_out = nullptr);

}  // namespace xgrad
