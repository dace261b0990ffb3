#include "dropout.hpp"

#include <cstdio>
#include <string>

#include "../ops/ops.hpp"

namespace xgrad::nn {

namespace {
// splitmix64's finaliser: a bijection on 64-bit words that spreads every input bit over the output.
std::uint64_t mix(std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
}  // namespace

std::uint64_t dropout_mask_seed(std::uint64_t stream, std::uint64_t call, std::uint64_t site) {
    return mix(mix(mix(stream) ^ call) ^ site);
}

dropout::dropout(double p, std::uint64_t seed) : module("dropout"), p_(p), seed_(seed) {
    if (!(p >= 0.0 && p < 1.0)) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.10g", p);
        throw argument_error(std::string("nn::dropout: p = ") + buf +
                             " must be in [0, 1) (the probability of zeroing an element)");
    }
}

var dropout::operator()(const var& x) {
    if (!is_training() || p_ == 0.0) return x;
    return xgrad::dropout(x, p_, dropout_mask_seed(seed_, calls_++, 0));
}

}  // namespace xgrad::nn
