#include "random.hpp"

#include <cmath>

namespace xgrad {

double rng::uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }

double rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double rng::normal() {
    if (has_spare_) {
        has_spare_ = false;
        return spare_;
    }
    double u, v, s;
    do {
        u = 2.0 * uniform() - 1.0;
        v = 2.0 * uniform() - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
}

std::size_t rng::index(std::size_t n) {
    // Lemire's unbiased bounded integer (rejection on the low word).
    std::uint64_t x = gen_();
    __uint128_t m = static_cast<__uint128_t>(x) * n;
    std::uint64_t l = static_cast<std::uint64_t>(m);
    if (l < n) {
        const std::uint64_t t = (0 - static_cast<std::uint64_t>(n)) % n;
        while (l < t) {
            x = gen_();
            m = static_cast<__uint128_t>(x) * n;
            l = static_cast<std::uint64_t>(m);
        }
    }
    return static_cast<std::size_t>(m >> 64);
}

namespace {
template <class Draw>
tensor generate(const shape_t& shape, dtype d, Draw draw) {
    tensor t = tensor::empty(shape, d);
    t.visit([&](auto& a) {
        using T = typename std::decay_t<decltype(a)>::value_type;
        for (auto& x : a) x = static_cast<T>(draw());
    });
    return t;
}
}  // namespace

tensor randn(const shape_t& shape, rng& gen, dtype d) {
    return generate(shape, d, [&] { return gen.normal(); });
}
tensor randn(const shape_t& shape, std::uint64_t seed, dtype d) {
    rng gen(seed);
    return randn(shape, gen, d);
}
tensor rand(const shape_t& shape, rng& gen, dtype d) {
    return generate(shape, d, [&] { return gen.uniform(); });
}
tensor rand(const shape_t& shape, std::uint64_t seed, dtype d) {
    rng gen(seed);
    return rand(shape, gen, d);
}
tensor uniform(const shape_t& shape, double lo, double hi, rng& gen, dtype d) {
    return generate(shape, d, [&] { return gen.uniform(lo, hi); });
}

}  // namespace xgrad
