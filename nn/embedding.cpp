#include "embedding.hpp"

#include "../ops/ops.hpp"

namespace xgrad::nn {

embedding::embedding(std::size_t vocab, std::size_t dim, std::uint64_t seed, dtype d, init_style init)
    : module("embedding"), vocab_(vocab), dim_(dim) {
    if (vocab == 0 || dim == 0)
        throw argument_error("nn::embedding: vocab and dim must be positive (got " + std::to_string(vocab) + ", " +
                             std::to_string(dim) + ")");
    rng gen(seed);
    weight_ = register_parameter("weight", init == init_style::keras ? uniform({vocab, dim}, 0.05, gen, d)
                                                                      : randn({vocab, dim}, gen, d));
}

var embedding::operator()(const var& indices) const { return xgrad::embedding(indices, weight_); }

}  // namespace xgrad::nn
