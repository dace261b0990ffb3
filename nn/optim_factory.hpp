#pragma once
// An optimizer chosen by name (a command-line option, a config file):
//   auto opt = nn::make_optimizer("adam", model, 1e-3);   // Keras' defaults, this learning rate
#include <memory>
#include <string_view>

#include "module.hpp"
#include "optim.hpp"

namespace xgrad::nn {

// sgd | adam | adamw | rmsprop over m's parameters, with Keras' default hyper-parameters (the options'
// keras(), nn/optim.hpp) and learning rate lr. Throws argument_error for any other name.
std::unique_ptr<optimizer> make_optimizer(std::string_view name, const module& m, double lr);

}  // namespace xgrad::nn
