#include "linear.hpp"

#include <cmath>

#include "../ops/ops.hpp"

namespace xgrad::nn {

linear::linear(std::size_t in, std::size_t out, bool bias, init_style init, std::uint64_t seed, dtype d)
    : module("linear"), in_(in), out_(out) {
    if (in == 0 || out == 0) throw argument_error("nn::linear: in and out must be positive (got " +
                                                  std::to_string(in) + ", " + std::to_string(out) + ")");
    rng gen(seed);
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    weight_ = register_parameter("weight", init == init_style::keras ? glorot_uniform({out, in}, gen, d)
                                                                      : uniform({out, in}, bound, gen, d));
    if (bias)
        bias_ = register_parameter("bias", init == init_style::keras ? zeros({out}, d) : uniform({out}, bound, gen, d));
}

var linear::operator()(const var& x) const {
    if (x.shape().empty() || x.shape().back() != in_)
        throw shape_error("nn::linear: input " + shape_str(x.shape()) + " must end in in_features = " +
                          std::to_string(in_) + " (weight " + shape_str(weight_.shape()) + ")" + scope_suffix());
    return bias_.defined() ? xgrad::linear(x, weight_, bias_) : xgrad::linear(x, weight_);
}

}  // namespace xgrad::nn
