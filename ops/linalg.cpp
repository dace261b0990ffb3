// Linear algebra through BLAS on the arrays' own contiguous storage. Transposes are GEMM flags,
// never copies; backward accumulates straight into the gradient buffers (beta = 1).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "../graph/parameter.hpp"
#include "blas.hpp"
#include "kernels.hpp"
#include "ops.hpp"
#include "weight_copies.hpp"

namespace xgrad {

using namespace kernels;

using detail::packed_w;
using detail::packed_wt;
using detail::packs;
using detail::reused_weight;
using detail::transposed;
using detail::weight_copy;

namespace {

// A recurrent weight's gradient is a sum over the time steps, dW = Σₜ dYₜᵀ·Xₜ. Step by step, every
// product reads and writes the whole [out, in] gradient for a depth of one batch (k = 32): at LSTM
// 1024 that is 32 MB of memory traffic for 268 MFLOP, T times per step. So linear's backward notes
// where a reused weight's dYₜ and Xₜ rows are (the tape keeps both until the sweep ends), and the
// sweep sums them in one product when it ends (backward_ctx::at_sweep_end): the same gradient, a
// different order of the additions, and the gradient written once. xgrad's kernel reads the rows
// where they are, and after zero_grad() stores the product instead of adding it (OpenBLAS would
// zero-fill the gradient first, then add); BLAS gets them copied side by side. Small weights keep the
// product per step (nothing to gain there). XGRAD_NO_DEFERRED_DW=1 in the environment turns this off
// (for A/B measurements).
void finish_weight_grad(tape& t, std::uint32_t weight) {
    auto& d = t.at(weight).dw;
    if (d.dy.empty()) return;
    param_state& p = *t.at(weight).param;
    const bool assign = p.grad_zero;  // zero_grad() since: store the product instead of adding it
    p.grad_zero = false;
    tensor& g = p.grad;
    const std::size_t out = g.shape()[0], in = g.shape()[1], k = d.dy.size();
    with_dtype(g.dtype(), [&](auto z) {
        using T = decltype(z);
        if constexpr (std::is_same_v<T, float>) {
            if (blas::own_gemm()) {
                blas::gemm_tn_rows(out, in, k, 1.0f, reinterpret_cast<const float* const*>(d.dy.data()),
                                   reinterpret_cast<const float* const*>(d.x.data()), assign ? 0.0f : 1.0f,
                                   g.data<float>(), in);
                return;
            }
        }
        d.dy_rows.reshape_storage({k, out}, g.dtype());
        d.x_rows.reshape_storage({k, in}, g.dtype());
        for (std::size_t r = 0; r < k; ++r) {
            std::memcpy(d.dy_rows.data<T>() + r * out, d.dy[r], out * sizeof(T));
            std::memcpy(d.x_rows.data<T>() + r * in, d.x[r], in * sizeof(T));
        }
        blas::gemm(true, false, out, in, k, T(1), d.dy_rows.data<T>(), out, d.x_rows.data<T>(), in,
                   assign ? T(0) : T(1), g.data<T>(), in);
    });
    d.dy.clear();
    d.x.clear();
}

template <class T>
bool defer_weight_grad(backward_ctx& c, const T* dy, const T* x, std::size_t m, std::size_t out, std::size_t in) {
    static const bool on = !std::getenv("XGRAD_NO_DEFERRED_DW") || std::string(std::getenv("XGRAD_NO_DEFERRED_DW")) != "1";
    node& wn = c.in_node(1);
    if (!on || wn.kind != node_kind::parameter || wn.weight_uses < 2 || out * in < (std::size_t(1) << 14)) return false;
    auto& d = wn.dw;
    if (d.sweep != c.sweep_id()) {  // the first of this sweep: the product at the end
        d.sweep = c.sweep_id();
        d.dy.clear();
        d.x.clear();
        c.at_sweep_end(c.self.inputs[1], finish_weight_grad);
    }
    c.grad_in_deferred(1);  // reached; zero_grad()'s grad_zero stays for finish_weight_grad's beta
    for (std::size_t r = 0; r < m; ++r) {  // capacity kept from the last step: no allocation
        d.dy.push_back(dy + r * out);
        d.x.push_back(x + r * in);
    }
    return true;
}

// Y = A·B   (A: [m,k] or [batch,m,k] read as [M = batch·m, k]; B: [k,n])
// dA = dY·Bᵀ   dB = Aᵀ·dY
void matmul_backward(backward_ctx& c) {
    const tensor& a = c.in(0);
    const tensor& b = c.in(1);
    const std::size_t k = b.shape()[0], n = b.shape()[1], m = a.size() / (k ? k : 1);
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* dy = c.grad_out.data<T>();
        if (c.needs_grad(0)) {
            bool assign = false;
            T* da = c.grad_in_overwrite(0, assign).data<T>();
            blas::gemm(false, true, m, k, n, T(1), dy, n, b.data<T>(), n, assign ? T(0) : T(1), da, k);
        }
        if (c.needs_grad(1)) blas::gemm(true, false, k, n, m, T(1), a.data<T>(), k, dy, n, T(1), c.grad_in(1).data<T>(), n);
    });
}

// Y = X·Wᵀ (+ b)   (X: [..., in] read as [M, in]; W: [out, in]; b: [out], or Y's shape: an addend)
// dX = dY·W   dW = dYᵀ·X   db = Σ_rows dY (db = dY for an addend)
// linear_step: Y = X·Wᵀ + A[:, t] (X: [batch, in]; A: [batch, T, out])   dX, dW as above, dA[:, t] += dY
void linear_backward(backward_ctx& c) {
    const tensor& x = c.in(0);
    const tensor& w = c.in(1);
    const std::size_t out = w.shape()[0], in = w.shape()[1], m = x.size() / (in ? in : 1);
    with_dtype(x.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* dy = c.grad_out.data<T>();
        if (c.needs_grad(0)) {
            bool assign = false;
            T* dx = c.grad_in_overwrite(0, assign).data<T>();
            node& wn = c.in_node(1);
            if (reused_weight(wn, m) && packs<T>(out, in)) {
                const T* bp = weight_copy<T>(wn.param->bwd_copy, wn, packed_w, w);
                if constexpr (std::is_same_v<T, float>)
                    blas::gemm_packed(false, m, in, out, T(1), dy, out, bp, assign ? T(0) : T(1), dx, in);
            } else {
                blas::gemm(false, false, m, in, out, T(1), dy, out, w.data<T>(), in, assign ? T(0) : T(1), dx, in);
            }
        }
        if (c.needs_grad(1)) {
            if (c.in_known_zero(0)) {
                c.grad_in_deferred(1);  // reached (so defined) though x = 0 adds nothing; zeros when read
            } else if (!defer_weight_grad(c, dy, x.data<T>(), m, out, in)) {
                bool assign = false;
                T* dw = c.grad_in_overwrite(1, assign).data<T>();
                blas::gemm(true, false, out, in, m, T(1), dy, out, x.data<T>(), in, assign ? T(0) : T(1), dw, in);
            }
        }
        if (c.arity() == 3 && c.needs_grad(2) && static_cast<op>(c.self.op) == op::linear_step) {
            // dA[:, t] += dY: the sequence's gradient, step t's rows (zero-filled once for all steps)
            const std::size_t ld = c.in(2).shape()[1] * out, first = static_cast<std::size_t>(c.attrs().start) * out;
            T* __restrict da = c.grad_in(2).data<T>() + first;
            for (std::size_t r = 0; r < m; ++r)
                for (std::size_t j = 0; j < out; ++j) da[r * ld + j] += dy[r * out + j];
        } else if (c.arity() == 3 && c.needs_grad(2)) {
            if (c.in(2).dim() >= 2) {  // a bias per row (an addend, e.g. x_t's projection): db = dY
                bool assign = false;
                T* __restrict db = c.grad_in_overwrite(2, assign).data<T>();
                if (assign) std::memcpy(db, dy, m * out * sizeof(T));
                else
                    for (std::size_t i = 0; i < m * out; ++i) db[i] += dy[i];
            } else {
                T* __restrict db = c.grad_in(2).data<T>();
                const T* __restrict g = dy;
                for (std::size_t r = 0; r < m; ++r)
                    for (std::size_t j = 0; j < out; ++j) db[j] += g[r * out + j];
            }
        }
    });
}

// Y = Xᵀ over the last two axes   dX = dYᵀ
void transpose_backward(backward_ctx& c) {
    if (!c.needs_grad(0)) return;
    const shape_t& s = c.in(0).shape();
    const std::size_t rows = s[s.size() - 2], cols = s[s.size() - 1], batch = c.in(0).size() / std::max<std::size_t>(rows * cols, 1);
    tensor& gx = c.grad_in(0);
    with_dtype(gx.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* dy = c.grad_out.data<T>();
        T* dx = gx.data<T>();
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t i = 0; i < rows; ++i)
                for (std::size_t j = 0; j < cols; ++j) dx[(b * rows + i) * cols + j] += dy[(b * cols + j) * rows + i];
    });
}

}  // namespace

var matmul(const var& a, const var& b) {
    auto r = begin(op::matmul, {a, b});
    const tensor& x = r.in(0);
    const tensor& y = r.in(1);
    const shape_t& xs = x.shape();
    const shape_t& ys = y.shape();
    if ((xs.size() != 2 && xs.size() != 3) || ys.size() != 2 || xs.back() != ys[0])
        throw_shape_error("matmul", "cannot multiply " + shape_str(xs) + " by " + shape_str(ys) +
                                        " (expected [m, k]·[k, n] or [batch, m, k]·[k, n])");
    const std::size_t k = ys[0], n = ys[1], m = x.size() / (k ? k : 1);
    shape_t os = xs;
    os.back() = n;
    tensor& out = r.out(os, x.dtype());
    with_dtype(x.dtype(), [&](auto t) {
        using T = decltype(t);
        if (k == 0) out.fill(0.0);
        else blas::gemm(false, false, m, n, k, T(1), x.data<T>(), k, y.data<T>(), n, T(0), out.data<T>(), n);
    });
    return r.finish(matmul_backward);
}

namespace {

constexpr std::size_t npos_step = ~std::size_t{0};  // linear_impl: not a sequence step

// linear, and linear_step when `step` is given: the addend is then step `step` of a sequence [rows, T, out].
var linear_impl(op id, std::initializer_list<var> args, std::size_t step = npos_step) {
    auto r = begin(id, args);
    const char* name = op_name(id);
    const tensor& x = r.in(0);
    const tensor& w = r.in(1);
    const shape_t& xs = x.shape();
    const shape_t& ws = w.shape();
    if (ws.size() != 2 || xs.empty() || xs.back() != ws[1])
        throw_shape_error(name, "input " + shape_str(xs) + " does not match weight " + shape_str(ws) +
                                    " (expected input [..., in] and weight [out, in])");
    const std::size_t out_f = ws[0], in_f = ws[1], m = x.size() / (in_f ? in_f : 1);
    const bool has_bias = r.arity() == 3;
    shape_t os = xs;
    os.back() = out_f;
    const bool at_step = step != npos_step;
    const bool row_bias = has_bias && (at_step || (r.in(2).dim() >= 2 && same_shape(r.in(2).shape(), os)));
    if (at_step) {
        const shape_t& as = r.in(2).shape();
        if (xs.size() != 2 || as.size() != 3 || as[0] != xs[0] || as[2] != out_f)
            throw_shape_error(name, "input " + shape_str(xs) + " and weight " + shape_str(ws) + " do not match sequence " +
                                        shape_str(as) + " (expected input [batch, in], weight [out, in], sequence [batch, T, out])");
        if (step >= as[1])
            throw_argument_error(name, "step " + std::to_string(step) + " is out of range for a sequence of " +
                                           std::to_string(as[1]) + " steps (shape " + shape_str(as) + ")");
        r.attrs().axis = 1;
        r.attrs().start = static_cast<std::int64_t>(step);
    } else if (has_bias && !row_bias && (r.in(2).dim() != 1 || r.in(2).shape()[0] != out_f)) {
        throw_shape_error(name, "bias " + shape_str(r.in(2).shape()) + " does not match weight " + shape_str(ws) +
                                    " and input " + shape_str(xs) + " (expected bias [" + std::to_string(out_f) +
                                    "] or " + shape_str(os) + ")");
    }
    // an addend's rows: ld floats apart from row to row, from `first` on (one sequence step, or all rows)
    const std::size_t add_ld = at_step ? r.in(2).shape()[1] * out_f : out_f, add_first = at_step ? step * out_f : 0;
    tensor& out = r.out(os, x.dtype());
    with_dtype(x.dtype(), [&](auto t) {
        using T = decltype(t);
        T* yp = out.data<T>();
        if (in_f == 1 && !row_bias && !r.in_known_zero(0)) {
            // One input feature (a scalar sequence's projection, [B·T, 1]·[1, out]): y = x·wᵀ + b in one
            // pass instead of bias rows, then an outer product that reads them back.
            const T* __restrict xp = x.data<T>();
            const T* __restrict wp = w.data<T>();
            const T* __restrict bp = has_bias ? r.in(2).data<T>() : nullptr;
            for (std::size_t i = 0; i < m; ++i) {
                T* __restrict yi = yp + i * out_f;
                const T xi = xp[i];
                if (bp)
                    for (std::size_t j = 0; j < out_f; ++j) yi[j] = bp[j] + xi * wp[j];
                else
                    for (std::size_t j = 0; j < out_f; ++j) yi[j] = xi * wp[j];
            }
            node& wn = r.owner().at(r.self().inputs[1]);
            if (wn.kind == node_kind::parameter) ++wn.weight_uses;
            return;
        }
        if (row_bias && !at_step) {
            std::memcpy(yp, r.in(2).data<T>(), m * out_f * sizeof(T));
        } else if (row_bias) {
            const T* a = r.in(2).data<T>() + add_first;
            for (std::size_t i = 0; i < m; ++i) std::memcpy(yp + i * out_f, a + i * add_ld, out_f * sizeof(T));
        } else if (has_bias) {
            const T* bp = r.in(2).data<T>();
            for (std::size_t i = 0; i < m; ++i) std::memcpy(yp + i * out_f, bp, out_f * sizeof(T));
        }
        if (in_f == 0 || r.in_known_zero(0)) {  // x = 0 (e.g. a zero initial state): y = b, no product
            if (!has_bias) out.fill(0.0);
            node& wn = r.owner().at(r.self().inputs[1]);
            if (wn.kind == node_kind::parameter) ++wn.weight_uses;  // still a use: the next one copies W
            return;
        }
        const T beta = has_bias ? T(1) : T(0);
        node& wn = r.owner().at(r.self().inputs[1]);
        if (wn.kind == node_kind::parameter) ++wn.weight_uses;
        if (reused_weight(wn, m) && packs<T>(out_f, in_f)) {
            const T* bp = weight_copy<T>(wn.param->fwd_copy, wn, packed_wt, w);
            if constexpr (std::is_same_v<T, float>)
                blas::gemm_packed(false, m, out_f, in_f, T(1), x.data<T>(), in_f, bp, beta, yp, out_f);
        } else if (reused_weight(wn, m) && out_f * in_f <= (std::size_t(1) << 18)) {
            const T* wt = weight_copy<T>(wn.param->fwd_copy, wn, transposed, w);
            blas::gemm(false, false, m, out_f, in_f, T(1), x.data<T>(), in_f, wt, out_f, beta, yp, out_f);
        } else {
            blas::gemm(false, true, m, out_f, in_f, T(1), x.data<T>(), in_f, w.data<T>(), in_f, beta, yp, out_f);
        }
    });
    return r.finish(linear_backward);
}
}  // namespace

var linear(const var& x, const var& w) { return linear_impl(op::linear, {x, w}); }
var linear(const var& x, const var& w, const var& b) { return linear_impl(op::linear, {x, w, b}); }
var linear_step(const var& x, const var& w, const var& seq, std::size_t t) {
    return linear_impl(op::linear_step, {x, w, seq}, t);
}

var transpose(const var& x) {
    auto r = begin(op::transpose, {x});
    const tensor& a = r.in(0);
    if (a.dim() < 2) throw_shape_error("transpose", "needs at least 2 dimensions, got " + shape_str(a.shape()));
    shape_t os = a.shape();
    std::swap(os[os.size() - 1], os[os.size() - 2]);
    const std::size_t rows = a.shape()[a.dim() - 2], cols = a.shape()[a.dim() - 1];
    const std::size_t batch = (rows * cols) != 0 ? a.size() / (rows * cols) : 0;
    tensor& out = r.out(os, a.dtype());
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* p = a.data<T>();
        T* q = out.data<T>();
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t i = 0; i < rows; ++i)
                for (std::size_t j = 0; j < cols; ++j) q[(b * cols + j) * rows + i] = p[(b * rows + i) * cols + j];
    });
    return r.finish(transpose_backward);
}

}  // namespace xgrad
