#pragma once
// Gradient clipping, applied between backward() and optimizer::step().
//
// clip_grad_norm: the global L2 norm over every gradient, ‖g‖ = √(Σ g²) (computed in double);
// when it exceeds max_norm every gradient is scaled by max_norm / (‖g‖ + 1e-6) (PyTorch's rule),
// so the new norm is max_norm (to 1e-6). Returns the norm before clipping, for logging.
// A NaN or infinite norm throws nonfinite_gradient_error naming the parameters at fault: scaling
// would spread the NaN to every weight.
//
// clip_grad_value: clamp every gradient element into [-v, v].
//
// Both skip what optimizer::step() skips: frozen parameters and undefined gradients.
#include <vector>

#include "../graph/errors.hpp"
#include "../graph/parameter.hpp"
#include "module.hpp"

namespace xgrad::nn {

// The gradients' global norm is NaN or infinite (exploding gradients, or a NaN in the loss).
struct nonfinite_gradient_error : error {
    using error::error;
};

double clip_grad_norm(const std::vector<parameter>& params, double max_norm);
double clip_grad_norm(const module& m, double max_norm);
// The global norm alone (no clipping; never throws on a non-finite value).
double grad_norm(const std::vector<parameter>& params);

void clip_grad_value(const std::vector<parameter>& params, double v);
void clip_grad_value(const module& m, double v);

}  // namespace xgrad::nn
