#pragma once
// nn::dropout: inverted dropout as a layer (xgrad::dropout), active in training mode only.
//
//   nn::dropout drop(0.2, /*seed=*/7);
//   var y = drop(x);   // training: each element zeroed with probability 0.2, the rest scaled by 1/0.8
//   model.eval();      // (recursive) drop(x) is x itself, the same var, no node recorded
//
// The mask of the layer's n-th call in training mode (n = 0, 1, ...: calls()) is drawn from
// rng(dropout_mask_seed(seed, n, 0)), so successive batches get different masks and a rerun from the
// same seed repeats them exactly; set_calls() resumes a stream (e.g. after loading a checkpoint).
#include <cstdint>

#include "../graph/tape.hpp"
#include "module.hpp"

namespace xgrad::nn {

// The seed of one dropout mask: splitmix64 mixing of (stream seed, call n, site k), where the site
// tells apart the masks of one call (recurrent layers: k = the layer below the mask). Distinct
// arguments give unrelated generator seeds.
std::uint64_t dropout_mask_seed(std::uint64_t stream, std::uint64_t call, std::uint64_t site);

class dropout : public module {
public:
    // p in [0, 1): the probability of zeroing an element (argument_error otherwise).
    explicit dropout(double p, std::uint64_t seed = 0);
    // Training mode with p > 0: xgrad::dropout(x, p, dropout_mask_seed(seed, calls()++, 0));
    // otherwise x unchanged (the same var).
    var operator()(const var& x);
    double p() const { return p_; }
    std::uint64_t seed() const { return seed_; }
    std::uint64_t calls() const { return calls_; }
    void set_calls(std::uint64_t n) { calls_ = n; }

private:
    double p_;
    std::uint64_t seed_;
    std::uint64_t calls_ = 0;
};

}  // namespace xgrad::nn
