#pragma once
// linear()'s products, in one place (private: ops/linalg.cpp calls them, tests inspect the cache):
//   forward  Y = X·Wᵀ + β·Y      backward  dX (+)= dY·W      dW (+)= dYᵀ·X
// for a weight W [out, in] on a tape leaf.
//
// A parameter that linear() multiplies more than once in a tape generation (a recurrent weight:
// once per time step) keeps a linear_cache as its derived state (graph/parameter.hpp):
//  - From its second use on, the products read a copy of W in the layout they read fastest: Wᵀ for
//    small weights (OpenBLAS's NT path is slower than its NN path at these sizes), or, in float32
//    with xgrad's own kernel, W packed for that kernel (op(B) = Wᵀ forward, W for dX), which OpenBLAS
//    would otherwise re-pack on every product. A copy is current while its version is the
//    parameter's.
//  - dW = Σₜ dYₜᵀ·Xₜ is not formed step by step (each product would read and write the whole
//    gradient for a depth of one batch): each step's rows of dY and X are noted where they lie in
//    the tape's buffers, and summed in one product when the sweep reaches the weight's leaf (a leaf
//    finisher). The same gradient, with the additions in another order.
//  - An in-place update (parameter::update_in_place, which every optimizer uses) re-packs each strip
//    of rows right after writing it, while it is in cache, so the next forward finds the copies
//    current instead of packing the weight from memory again.
// XGRAD_NO_DEFERRED_DW=1, XGRAD_NO_COPY_REFRESH=1 and XGRAD_NO_OWN_GEMM=1 turn each of these off.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../../graph/parameter.hpp"

namespace xgrad::gemm {

enum class layout : std::uint8_t { none, transposed, packed_wt, packed_w };

class linear_cache final : public derived_state {
public:
    struct copy {
        std::uint64_t version = ~std::uint64_t{0};
        layout form = layout::none;
        tensor data;
        bool current(const param_state& p, layout f) const {
            return version == p.version && form == f && data.defined() && data.dtype() == p.value.dtype();
        }
    };
    copy fwd;  // read by the forward product X·Wᵀ
    copy bwd;  // read by dX = dY·W

    // Ops reading the weight's leaf (tape, generation, index) as linear()'s weight.
    std::uint64_t tape_id = 0, tape_gen = 0;
    std::uint32_t leaf = 0, uses = 0;

    // dW's rows held back in this sweep: pointers to each step's rows of dY [out] and X [in].
    std::vector<const void*> dy_rows, x_rows;
    tensor dy_side, x_side;  // the rows copied side by side, where BLAS takes them

    std::size_t begin_update(const param_state& p) override;
    void rows_updated(const param_state& p, std::size_t r0, std::size_t r1) override;
    void end_update(const param_state& p) override;

private:
    bool refresh_fwd_ = false, refresh_bwd_ = false;
};

// The linear_cache of p, made on first call; null when p's derived state belongs to something else.
linear_cache* cache_of(param_state& p);

// Called once by each linear op, before its products, with the tape index of its weight.
void note_use(tape& t, std::uint32_t w);

// Y[m, out] = X[m, in]·Wᵀ + beta·Y, W the value of leaf w.
template <class T>
void forward(tape& t, std::uint32_t w, std::size_t m, const T* x, T beta, T* y);
// dX[m, in] (+)= dY[m, out]·W.
template <class T>
void backward_x(tape& t, std::uint32_t w, std::size_t m, const T* dy, grad_buffer dx);
// dW (+)= dY[m, out]ᵀ·X[m, in] for the weight that is input `wi` of the rule's op.
template <class T>
void backward_w(backward_ctx& c, std::size_t wi, std::size_t m, const T* dy, const T* x);

}  // namespace xgrad::gemm
