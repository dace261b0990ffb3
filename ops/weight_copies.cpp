// The weight copies of weight_copies.hpp: made on linear()'s second use of a weight, re-packed strip by
// strip by the optimizers.
#include "weight_copies.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace xgrad::detail {

namespace {

constexpr std::size_t max_copy_rows = 512;  // more rows than a batch of states: the product amortises packing

// dst[c, r] = src[r, c] for a [rows, cols] row-major src, in 32×32 tiles written row by row (tiles
// of 16, or strided writes, were 2–9× slower on a 1024×256 weight: 120 µs against 217–1050 µs).
template <class T>
void transpose_into(const T* __restrict src, T* __restrict dst, std::size_t rows, std::size_t cols) {
    constexpr std::size_t tile = 32;
    for (std::size_t r0 = 0; r0 < rows; r0 += tile)
        for (std::size_t c0 = 0; c0 < cols; c0 += tile) {
            const std::size_t r1 = std::min(rows, r0 + tile), c1 = std::min(cols, c0 + tile);
            for (std::size_t c = c0; c < c1; ++c)
                for (std::size_t r = r0; r < r1; ++r) dst[c * rows + r] = src[r * cols + c];
        }
}

// Copy wc of p's value w holds `form` of the value as it is now.
bool current(const param_state::weight_copy& wc, const param_state& p, weight_form form, const tensor& w) {
    return wc.version == p.version && wc.form == form && wc.data.defined() && wc.data.dtype() == w.dtype();
}

}  // namespace

bool reused_weight(const node& wn, std::size_t m) {
    return wn.kind == node_kind::parameter && wn.weight_uses >= 2 && m <= max_copy_rows;
}

template <class T>
const T* weight_copy(param_state::weight_copy& wc, const node& wn, weight_form form, const tensor& w) {
    if (current(wc, *wn.param, form, w)) return wc.data.data<T>();
    const std::size_t out_f = w.shape()[0], in_f = w.shape()[1];
    if (form == transposed) {
        wc.data.reshape_storage({in_f, out_f}, w.dtype());
        transpose_into(w.data<T>(), wc.data.data<T>(), out_f, in_f);
    } else if constexpr (std::is_same_v<T, float>) {
        const bool wt = form == packed_wt;  // op(B) = Wᵀ [in, out] (forward) or W [out, in] (dX)
        wc.data.reshape_storage({wt ? blas::packed_size(in_f, out_f) : blas::packed_size(out_f, in_f)}, w.dtype());
        blas::pack(wt, wt ? in_f : out_f, wt ? out_f : in_f, w.data<T>(), in_f, wc.data.data<T>());
    }
    wc.version = wn.param->version;
    wc.form = form;
    return wc.data.data<T>();
}

template const float* weight_copy<float>(param_state::weight_copy&, const node&, weight_form, const tensor&);
template const double* weight_copy<double>(param_state::weight_copy&, const node&, weight_form, const tensor&);

// ---- copies kept current by the optimizer ---------------------------------------------------------

copy_refresh::copy_refresh(param_state& p) : p_(p) {
    static const bool on = !std::getenv("XGRAD_NO_COPY_REFRESH") || std::string(std::getenv("XGRAD_NO_COPY_REFRESH")) != "1";
    const tensor& w = p.value;
    if (!on || !w.defined() || w.dtype() != dtype::float32 || w.dim() != 2 || !blas::own_gemm()) return;
    fwd_ = current(p.fwd_copy, p, packed_wt, w);
    bwd_ = current(p.bwd_copy, p, packed_w, w);
    // whole panels of 32 rows (the forward copy's panels are 32 of W's rows), about 128 KB of each array
    const std::size_t in_f = w.shape()[1];
    if (fwd_ || bwd_) strip_ = std::max<std::size_t>(32, (std::size_t(1) << 15) / std::max<std::size_t>(in_f, 1) / 32 * 32);
}

void copy_refresh::rows(std::size_t r0, std::size_t r1) {
    const std::size_t out_f = p_.value.shape()[0], in_f = p_.value.shape()[1];
    const float* w = p_.value.data<float>();
    // A copy larger than L2 would be evicted before the next forward reads it: written past the caches
    // (no read of the old lines first). A smaller one is written through them, to be found there.
    const bool stream = out_f * in_f * sizeof(float) > (std::size_t(2) << 20);
    if (fwd_) blas::pack_rows(true, in_f, out_f, w, in_f, p_.fwd_copy.data.data<float>(), r0, r1, stream);
    if (bwd_) blas::pack_rows(false, out_f, in_f, w, in_f, p_.bwd_copy.data.data<float>(), r0, r1, stream);
}

void copy_refresh::done(std::uint64_t version) {
    if (fwd_) p_.fwd_copy.version = version;
    if (bwd_) p_.bwd_copy.version = version;
    p_.copies_refreshed = fwd_ || bwd_;
}

}  // namespace xgrad::detail
