#pragma once
// NumPy broadcasting, in one place. Binary ops walk the output with for_each_broadcast, which hands
// each output position with the matching positions in both inputs. The same walk runs backward
// with `+=` into the input gradients, so a broadcast input's gradient is summed over the axes it
// was stretched along (sum_to), centrally, for every op.
#include <cstddef>

#include "tensor.hpp"

namespace xgrad {

// The broadcast result of a and b; throws shape_error naming `op` and both shapes.
shape_t broadcast_shapes(const char* op, const shape_t& a, const shape_t& b);

namespace detail {
// Strides (in elements) of an input of shape `in` read at positions of `out` (0 where broadcast).
void broadcast_strides(const shape_t& out, const shape_t& in, std::size_t* strides);
}  // namespace detail

// Calls f(o, ia, ib) for every flat output position o with the flat positions ia in a and ib in b.
template <class F>
void for_each_broadcast(const shape_t& out, const shape_t& a, const shape_t& b, F&& f) {
    std::size_t n = 1;
    for (auto d : out) n *= d;
    if (n == 0) return;
    const bool a_full = a == out, b_full = b == out;
    if (a_full && b_full) {
        for (std::size_t i = 0; i < n; ++i) f(i, i, i);
        return;
    }
    std::size_t na = 1, nb = 1;
    for (auto d : a) na *= d;
    for (auto d : b) nb *= d;
    if (a_full && nb == 1) {
        for (std::size_t i = 0; i < n; ++i) f(i, i, std::size_t{0});
        return;
    }
    if (b_full && na == 1) {
        for (std::size_t i = 0; i < n; ++i) f(i, std::size_t{0}, i);
        return;
    }
    // a full, b a trailing block of it (a bias row): rows of out read b from its start.
    if (a_full && nb > 0 && n % nb == 0 && b.size() <= out.size()) {
        bool suffix = true;
        for (std::size_t k = 0; k < b.size(); ++k)
            if (b[b.size() - 1 - k] != out[out.size() - 1 - k]) suffix = false;
        if (suffix) {
            for (std::size_t r = 0, o = 0; r < n / nb; ++r)
                for (std::size_t j = 0; j < nb; ++j, ++o) f(o, o, j);
            return;
        }
    }
    // General case: an odometer over the output's indices.
    const std::size_t rank = out.size();
    std::size_t sa[16], sb[16], idx[16] = {};
    detail::broadcast_strides(out, a, sa);
    detail::broadcast_strides(out, b, sb);
    std::size_t ia = 0, ib = 0;
    for (std::size_t o = 0; o < n; ++o) {
        f(o, ia, ib);
        for (std::size_t k = rank; k-- > 0;) {
            ++idx[k];
            ia += sa[k];
            ib += sb[k];
            if (idx[k] < out[k]) break;
            ia -= sa[k] * out[k];
            ib -= sb[k] * out[k];
            idx[k] = 0;
        }
    }
}

// dst += src summed down to dst's shape (src's shape must broadcast from dst's).
void accumulate_sum_to(tensor& dst, const tensor& src);

}  // namespace xgrad
