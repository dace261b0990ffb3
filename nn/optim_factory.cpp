#include "optim_factory.hpp"

#include <string>

namespace xgrad::nn {

namespace {
template <class Optimizer, class Options>
std::unique_ptr<optimizer> with_lr(const module& m, Options o, double lr) {
    o.lr = lr;
    return std::make_unique<Optimizer>(m, o);
}
}  // namespace

std::unique_ptr<optimizer> make_optimizer(std::string_view name, const module& m, double lr) {
    if (name == "sgd") return with_lr<sgd>(m, sgd_options::keras(), lr);
    if (name == "adam") return with_lr<adam>(m, adam_options::keras(), lr);
    if (name == "adamw") return with_lr<adamw>(m, adamw_options::keras(), lr);
    if (name == "rmsprop") return with_lr<rmsprop>(m, rmsprop_options::keras(), lr);
    throw argument_error("nn::make_optimizer: unknown optimizer '" + std::string(name) +
                         "' (use sgd, adam, adamw or rmsprop)");
}

}  // namespace xgrad::nn
