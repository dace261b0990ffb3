#pragma once
// Seeded random numbers. Every random draw in xgrad comes from an explicit generator, so a run is
// reproducible bit for bit. The distributions are written here (not std::normal_distribution,
// whose output differs between standard libraries), on top of the fully specified mt19937_64.
#include <cstdint>
#include <random>

#include "tensor.hpp"

namespace xgrad {

class rng {
public:
    explicit rng(std::uint64_t seed = 0) : gen_(seed) {}
    void seed(std::uint64_t s) { gen_.seed(s); has_spare_ = false; }
    double uniform();                    // [0, 1), 53 random bits
    double uniform(double lo, double hi);  // [lo, hi)
    double normal();                     // N(0, 1), Marsaglia polar method
    std::uint64_t next() { return gen_(); }
    std::size_t index(std::size_t n);    // uniform in [0, n)

private:
    std::mt19937_64 gen_;
    double spare_ = 0;
    bool has_spare_ = false;
};

tensor randn(const shape_t& shape, std::uint64_t seed, dtype d = default_dtype());
tensor randn(const shape_t& shape, rng& gen, dtype d = default_dtype());
tensor rand(const shape_t& shape, std::uint64_t seed, dtype d = default_dtype());  // U[0, 1)
tensor rand(const shape_t& shape, rng& gen, dtype d = default_dtype());
tensor uniform(const shape_t& shape, double lo, double hi, rng& gen, dtype d = default_dtype());

}  // namespace xgrad
