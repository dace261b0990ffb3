#pragma once
// linear: y = x·Wᵀ + b (PyTorch's nn.Linear, Keras's Dense without activation).
// Parameters: "weight" [out, in], "bias" [out] (PyTorch names and layout).
// Init: keras = glorot-uniform weight, zero bias; pytorch = U(±1/sqrt(in)) for both.
#include <cstdint>

#include "../graph/tape.hpp"
#include "init.hpp"
#include "module.hpp"

namespace xgrad::nn {

class linear : public module {
public:
    linear(std::size_t in, std::size_t out, bool bias = true, init_style init = init_style::keras,
           std::uint64_t seed = 0, dtype d = default_dtype());
    var operator()(const var& x) const;  // x: [..., in] -> [..., out]

    std::size_t in_features() const { return in_; }
    std::size_t out_features() const { return out_; }
    const parameter& weight() const { return weight_; }
    const parameter& bias() const { return bias_; }  // undefined when built without bias

private:
    std::size_t in_, out_;
    parameter weight_, bias_;
};

}  // namespace xgrad::nn
