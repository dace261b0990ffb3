#pragma once
// embedding: rows of a [vocab, dim] table picked by integer indices (stored as floats).
// Parameter "weight" [vocab, dim]. Init: keras = U(±0.05) (Keras Embedding), pytorch = N(0, 1).
#include <cstdint>

#include "../graph/tape.hpp"
#include "init.hpp"
#include "module.hpp"

namespace xgrad::nn {

class embedding : public module {
public:
    embedding(std::size_t vocab, std::size_t dim, std::uint64_t seed = 0, dtype d = default_dtype(),
              init_style init = init_style::keras);
    var operator()(const var& indices) const;  // any shape of indices -> indices.shape + [dim]

    std::size_t vocab() const { return vocab_; }
    std::size_t dim() const { return dim_; }
    const parameter& weight() const { return weight_; }

private:
    std::size_t vocab_, dim_;
    parameter weight_;
};

}  // namespace xgrad::nn
