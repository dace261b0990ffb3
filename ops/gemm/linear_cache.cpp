// linear()'s products and the weight cache behind them (see linear_cache.hpp).
#include "linear_cache.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <typeinfo>

#include "../kernels.hpp"
#include "blas.hpp"

namespace xgrad::gemm {

namespace {

bool env_off(const char* name) {
    const char* v = std::getenv(name);
    return v && std::string(v) == "1";
}

// Rows multiplied by a copy: a batch of states, where the product amortises making the copy.
constexpr std::size_t max_copy_rows = 512;
// Weights small enough for a transposed copy (NN product instead of NT); larger ones run NT in place.
constexpr std::size_t max_transposed = std::size_t(1) << 18;
// Weights whose dW is summed at the leaf: below this the per-step product is as fast.
constexpr std::size_t min_deferred = std::size_t(1) << 14;

// Packed for xgrad's kernel (rather than transposed) at this size and dtype?
template <class T>
bool packs(std::size_t out_f, std::size_t in_f) {
    return std::is_same_v<T, float> && blas::own_gemm() && out_f >= 128 && in_f >= 128 &&
           out_f * in_f <= (std::size_t(1) << 23);
}

// dst[c, r] = src[r, c] for a [rows, cols] row-major src, in 32×32 tiles written row by row.
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

// The cache of leaf w when it is a parameter's, else null.
linear_cache* leaf_cache(tape& t, std::uint32_t w) {
    node& n = t.at(w);
    return n.kind == node_kind::parameter ? cache_of(*n.param) : nullptr;
}

// How many ops read leaf w as a weight in this generation (0 for a leaf that is no parameter's).
std::uint32_t uses_of(tape& t, std::uint32_t w, const linear_cache* c) {
    if (!c || c->tape_id != t.id() || c->tape_gen != t.generation() || c->leaf != w) return 0;
    return c->uses;
}

// Copy `cp` of p's value in `form`, made again unless current.
template <class T>
const T* copy_of(linear_cache::copy& cp, const param_state& p, layout form) {
    if (cp.current(p, form)) return cp.data.data<T>();
    const tensor& w = p.value;
    const std::size_t out_f = w.shape()[0], in_f = w.shape()[1];
    if (form == layout::transposed) {
        cp.data.reshape_storage({in_f, out_f}, w.dtype());
        transpose_into(w.data<T>(), cp.data.data<T>(), out_f, in_f);
    } else if constexpr (std::is_same_v<T, float>) {
        const bool wt = form == layout::packed_wt;  // op(B) = Wᵀ [in, out] (forward) or W [out, in] (dX)
        cp.data.reshape_storage({wt ? blas::packed_size(in_f, out_f) : blas::packed_size(out_f, in_f)}, w.dtype());
        blas::pack(wt, wt ? in_f : out_f, wt ? out_f : in_f, w.data<T>(), in_f, cp.data.data<T>());
    }
    cp.version = p.version;
    cp.form = form;
    return cp.data.data<T>();
}

// The leaf finisher of a weight whose dW rows were held back: dW (+)= Σ dY_rowsᵀ·X_rows in one product.
void finish_weight_grad(tape& t, std::uint32_t leaf) {
    param_state& p = *t.at(leaf).param;
    linear_cache* c = cache_of(p);
    if (!c || c->dy_rows.empty()) return;
    grad_buffer g = t.grad_buffer_of(leaf);
    const std::size_t out = g.shape()[0], in = g.shape()[1], k = c->dy_rows.size();
    kernels::with_dtype(g.dtype(), [&](auto z) {
        using T = decltype(z);
        const T beta = kernels::gemm_beta<T>(g);
        if constexpr (std::is_same_v<T, float>) {
            if (blas::own_gemm()) {
                blas::gemm_tn_rows(out, in, k, 1.0f, reinterpret_cast<const float* const*>(c->dy_rows.data()),
                                   reinterpret_cast<const float* const*>(c->x_rows.data()), beta, g.data<float>(), in);
                return;
            }
        }
        c->dy_side.reshape_storage({k, out}, g.dtype());
        c->x_side.reshape_storage({k, in}, g.dtype());
        for (std::size_t r = 0; r < k; ++r) {
            std::memcpy(c->dy_side.data<T>() + r * out, c->dy_rows[r], out * sizeof(T));
            std::memcpy(c->x_side.data<T>() + r * in, c->x_rows[r], in * sizeof(T));
        }
        blas::gemm(true, false, out, in, k, T(1), c->dy_side.data<T>(), out, c->x_side.data<T>(), in, beta,
                   g.data<T>(), in);
    });
    c->dy_rows.clear();
    c->x_rows.clear();
}

}  // namespace

linear_cache* cache_of(param_state& p) {
    if (!p.derived) p.derived = std::make_unique<linear_cache>();
    derived_state& d = *p.derived;
    return typeid(d) == typeid(linear_cache) ? static_cast<linear_cache*>(&d) : nullptr;
}

void note_use(tape& t, std::uint32_t w) {
    linear_cache* c = leaf_cache(t, w);
    if (!c) return;
    if (uses_of(t, w, c) == 0) {
        c->tape_id = t.id();
        c->tape_gen = t.generation();
        c->leaf = w;
        c->uses = 0;
    }
    ++c->uses;
}

template <class T>
void forward(tape& t, std::uint32_t w, std::size_t m, const T* x, T beta, T* y) {
    const tensor& W = t.value(w);
    const std::size_t out_f = W.shape()[0], in_f = W.shape()[1];
    linear_cache* c = leaf_cache(t, w);
    const bool reused = uses_of(t, w, c) >= 2 && m <= max_copy_rows;
    if (reused && packs<T>(out_f, in_f)) {
        const T* bp = copy_of<T>(c->fwd, *t.at(w).param, layout::packed_wt);
        if constexpr (std::is_same_v<T, float>) blas::gemm_packed(false, m, out_f, in_f, T(1), x, in_f, bp, beta, y, out_f);
    } else if (reused && out_f * in_f <= max_transposed) {
        const T* wt = copy_of<T>(c->fwd, *t.at(w).param, layout::transposed);
        blas::gemm(false, false, m, out_f, in_f, T(1), x, in_f, wt, out_f, beta, y, out_f);
    } else {
        blas::gemm(false, true, m, out_f, in_f, T(1), x, in_f, W.data<T>(), in_f, beta, y, out_f);
    }
}

template <class T>
void backward_x(tape& t, std::uint32_t w, std::size_t m, const T* dy, grad_buffer dx) {
    const tensor& W = t.value(w);
    const std::size_t out_f = W.shape()[0], in_f = W.shape()[1];
    linear_cache* c = leaf_cache(t, w);
    const T beta = kernels::gemm_beta<T>(dx);
    if (uses_of(t, w, c) >= 2 && m <= max_copy_rows && packs<T>(out_f, in_f)) {
        const T* bp = copy_of<T>(c->bwd, *t.at(w).param, layout::packed_w);
        if constexpr (std::is_same_v<T, float>)
            blas::gemm_packed(false, m, in_f, out_f, T(1), dy, out_f, bp, beta, dx.data<T>(), in_f);
    } else {
        blas::gemm(false, false, m, in_f, out_f, T(1), dy, out_f, W.data<T>(), in_f, beta, dx.data<T>(), in_f);
    }
}

template <class T>
void backward_w(backward_ctx& ctx, std::size_t wi, std::size_t m, const T* dy, const T* x) {
    static const bool deferred = !env_off("XGRAD_NO_DEFERRED_DW");
    tape& t = ctx.owner();
    const std::uint32_t w = ctx.self.inputs[wi];
    const tensor& W = t.value(w);
    const std::size_t out_f = W.shape()[0], in_f = W.shape()[1];
    linear_cache* c = leaf_cache(t, w);
    if (deferred && uses_of(t, w, c) >= 2 && out_f * in_f >= min_deferred) {
        if (ctx.finish_at_leaf(wi, finish_weight_grad)) {  // the first in this sweep: rows of an earlier one go
            c->dy_rows.clear();
            c->x_rows.clear();
        }
        ctx.grad_in(wi);  // reached; written (stored when fresh) by finish_weight_grad
        for (std::size_t r = 0; r < m; ++r) {  // capacity kept from the last sweep: no allocation
            c->dy_rows.push_back(dy + r * out_f);
            c->x_rows.push_back(x + r * in_f);
        }
        return;
    }
    grad_buffer g = ctx.grad_in(wi);
    const T beta = kernels::gemm_beta<T>(g);
    blas::gemm(true, false, out_f, in_f, m, T(1), dy, out_f, x, in_f, beta, g.data<T>(), in_f);
}

template void forward<float>(tape&, std::uint32_t, std::size_t, const float*, float, float*);
template void forward<double>(tape&, std::uint32_t, std::size_t, const double*, double, double*);
template void backward_x<float>(tape&, std::uint32_t, std::size_t, const float*, grad_buffer);
template void backward_x<double>(tape&, std::uint32_t, std::size_t, const double*, grad_buffer);
template void backward_w<float>(backward_ctx&, std::size_t, std::size_t, const float*, const float*);
template void backward_w<double>(backward_ctx&, std::size_t, std::size_t, const double*, const double*);

// ---- copies kept current by an in-place update ----------------------------------------------------

std::size_t linear_cache::begin_update(const param_state& p) {
    static const bool refresh = !env_off("XGRAD_NO_COPY_REFRESH");
    refresh_fwd_ = refresh_bwd_ = false;
    const tensor& w = p.value;
    if (!refresh || w.dtype() != dtype::float32 || w.dim() != 2 || !blas::own_gemm()) return 0;
    refresh_fwd_ = fwd.current(p, layout::packed_wt);
    refresh_bwd_ = bwd.current(p, layout::packed_w);
    if (!refresh_fwd_ && !refresh_bwd_) return 0;
    // whole panels of 32 rows (the forward copy's panels are 32 of W's rows), about 128 KB of each array
    const std::size_t in_f = std::max<std::size_t>(w.shape()[1], 1);
    return std::max<std::size_t>(32, (std::size_t(1) << 15) / in_f / 32 * 32);
}

void linear_cache::rows_updated(const param_state& p, std::size_t r0, std::size_t r1) {
    const std::size_t out_f = p.value.shape()[0], in_f = p.value.shape()[1];
    const float* w = p.value.data<float>();
    // A copy larger than L2 would be evicted before the next forward reads it: written past the caches
    // (no read of the old lines first). A smaller one is written through them, to be found there.
    const bool stream = out_f * in_f * sizeof(float) > (std::size_t(2) << 20);
    if (refresh_fwd_) blas::pack_rows(true, in_f, out_f, w, in_f, fwd.data.data<float>(), r0, r1, stream);
    if (refresh_bwd_) blas::pack_rows(false, out_f, in_f, w, in_f, bwd.data.data<float>(), r0, r1, stream);
}

void linear_cache::end_update(const param_state& p) {
    if (refresh_fwd_) fwd.version = p.version;
    if (refresh_bwd_) bwd.version = p.version;
}

}  // namespace xgrad::gemm
