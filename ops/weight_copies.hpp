#pragma once
// Copies of a recurrent weight in the layouts linear()'s products read fastest, kept in its
// param_state (fwd_copy, bwd_copy), and kept current through an optimizer's in-place update
// (private: ops/linalg.cpp and nn/optim.cpp use it, ops/weight_copies.cpp implements it).
//
// X·Wᵀ with W [out, in] row-major is the "NT" product, and OpenBLAS's small-matrix NT path is about
// twice as slow as its NN path at recurrent sizes (32×50·50×50: 2.8 vs 1.3 µs; 32×50·50×200: 8.6 vs
// 4.4 µs, SkylakeX kernels; docs/performance.md). A parameter that linear() multiplies more than once
// in a tape generation (a recurrent weight: once per time step) therefore gets a copy from its second
// use on: Wᵀ for small weights, and for weights of 128 × 128 and more (float32, AVX-512) W packed for
// xgrad's own kernel, which OpenBLAS would otherwise re-pack on every product (forward: Wᵀ packed;
// backward dX = dY·W: W packed). A copy follows the parameter's version, so a value changed in
// between is never used stale.
//
// An optimizer step changes the weight, and packing it again in the next forward reads it from memory
// twice (LSTM 1024: 16 MB, 8 % of a training step). The optimizer instead updates the weight in strips
// of rows and re-packs each strip into the copies right after writing it, while it is still in cache
// (copy_refresh).
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../graph/parameter.hpp"
#include "blas.hpp"

namespace xgrad::detail {

enum weight_form : int { transposed = 1, packed_wt = 2, packed_w = 3 };

// Does linear() multiply `m` rows by a copy of the weight on leaf `wn` (a parameter used at least
// twice in this generation)?
bool reused_weight(const node& wn, std::size_t m);

// Packed for xgrad's kernel (rather than transposed) at this size and dtype?
template <class T>
bool packs(std::size_t out_f, std::size_t in_f) {
    return std::is_same_v<T, float> && blas::own_gemm() && out_f >= 128 && in_f >= 128 &&
           out_f * in_f <= (std::size_t(1) << 23);
}

// The copy `wc` of weight w (leaf wn) in `form`, made or re-made unless current.
template <class T>
const T* weight_copy(param_state::weight_copy& wc, const node& wn, weight_form form, const tensor& w);

class copy_refresh {
public:
    // Notes which packed copies of p match its value now: construct before the update changes it.
    explicit copy_refresh(param_state& p);
    // Rows of the weight the update should write before each call of rows(); 0 when no copy is to be
    // kept current (the update then runs in one piece).
    std::size_t strip_rows() const { return strip_; }
    // Re-pack rows [r0, r1) of the value (r0 a multiple of strip_rows()), which the update has just written.
    void rows(std::size_t r0, std::size_t r1);
    // Every row re-packed: the copies match the value at `version`.
    void done(std::uint64_t version);

private:
    param_state& p_;
    bool fwd_ = false, bwd_ = false;
    std::size_t strip_ = 0;
};

}  // namespace xgrad::detail
