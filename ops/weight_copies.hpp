#pragma once
// Keeping linear()'s packed copies of a weight current through an in-place update of the weight
// (private: nn/optim.cpp uses it, ops/linalg.cpp implements it).
//
// A recurrent weight is multiplied once per time step, forward and backward, by xgrad's own GEMM,
// which reads it packed (param_state::fwd_copy, bwd_copy). An optimizer step changes the weight, and
// packing it again in the next forward reads it from memory twice (LSTM 1024: 16 MB, 8 % of a training
// step). The optimizer instead updates the weight in strips of rows and re-packs each strip into the
// copies right after writing it, while it is still in cache.
#include <cstddef>
#include <cstdint>

namespace xgrad {
struct param_state;
}

namespace xgrad::detail {

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
