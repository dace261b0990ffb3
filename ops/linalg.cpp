// Linear algebra through BLAS on the arrays' own contiguous storage. Transposes are GEMM flags,
// never copies; backward accumulates straight into the gradient buffers (beta = 1).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "gemm/blas.hpp"
#include "gemm/linear_cache.hpp"
#include "kernels.hpp"
#include "ops.hpp"

namespace xgrad {

using namespace kernels;

// Y = A·B   (A: [m,k] or [batch,m,k] read as [M = batch·m, k]; B: [k,n])
// dA = dY·Bᵀ   dB = Aᵀ·dY
static void matmul_backward(backward_ctx& c) {
    const tensor& a = c.in(0);
    const tensor& b = c.in(1);
    const std::size_t k = b.shape()[0], n = b.shape()[1], m = a.size() / (k ? k : 1);
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* dy = c.grad_out.data<T>();
        if (c.needs_grad(0)) {
            grad_buffer da = c.grad_in(0);
            blas::gemm(false, true, m, k, n, T(1), dy, n, b.data<T>(), n, gemm_beta<T>(da), da.data<T>(), k);
        }
        if (c.needs_grad(1)) {
            grad_buffer db = c.grad_in(1);
            blas::gemm(true, false, k, n, m, T(1), a.data<T>(), k, dy, n, gemm_beta<T>(db), db.data<T>(), n);
        }
    });
}
var matmul(const var& a, const var& b) {
    auto r = record(op::matmul, {a, b});
    const tensor& av = r.in(0);
    const tensor& bv = r.in(1);
    const shape_t& as = av.shape();
    const shape_t& bs = bv.shape();
    if ((as.size() != 2 && as.size() != 3) || bs.size() != 2 || as.back() != bs[0])
        throw_shape_error(op_name(op::matmul), "cannot multiply " + shape_str(as) + " by " + shape_str(bs) +
                                                   " (expected [m, k]·[k, n] or [batch, m, k]·[k, n])");
    const std::size_t k = bs[0], n = bs[1], m = av.size() / (k ? k : 1);
    shape_t os = as;
    os.back() = n;
    tensor& out = r.out(os, av.dtype());
    with_dtype(av.dtype(), [&](auto t) {
        using T = decltype(t);
        if (k == 0) out.fill(0.0);
        else blas::gemm(false, false, m, n, k, T(1), av.data<T>(), k, bv.data<T>(), n, T(0), out.data<T>(), n);
    });
    return r.finish(matmul_backward);
}

// Y = X·Wᵀ (+ b)   (X: [..., in] read as [M, in]; W: [out, in]; b: [out], or Y's shape: an addend)
// dX = dY·W   dW = dYᵀ·X   db = Σ_rows dY (db = dY for an addend)
// linear_at: Y = X·Wᵀ + A[:, t] (X: [batch, in]; A: [batch, T, out])   dX, dW as above, dA[:, t] += dY
// The products and their fast paths are gemm/linear_cache's.
static void linear_backward(backward_ctx& c) {
    const tensor& x = c.in(0);
    const tensor& w = c.in(1);
    const std::size_t out = w.shape()[0], in = w.shape()[1], m = x.size() / (in ? in : 1);
    const std::uint32_t wi = c.self.inputs[1];
    with_dtype(x.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* dy = c.grad_out.data<T>();
        if (c.needs_grad(0)) gemm::backward_x<T>(c.owner(), wi, m, dy, c.grad_in(0));
        if (c.needs_grad(1)) {
            if (c.in_known_zero(0)) c.grad_in(1);  // reached though x = 0 adds nothing: left fresh, zero
            else gemm::backward_w<T>(c, 1, m, dy, x.data<T>());
        }
        if (c.arity() == 3 && c.needs_grad(2) && static_cast<op>(c.self.op) == op::linear_at) {
            // dA[:, t] += dY: the sequence's gradient, step t's rows (zero-filled once for all steps)
            const std::size_t ld = c.in(2).shape()[1] * out, first = c.attrs().step * out;
            T* __restrict da = c.grad_in(2).for_add().data<T>() + first;
            for (std::size_t r = 0; r < m; ++r)
                for (std::size_t j = 0; j < out; ++j) da[r * ld + j] += dy[r * out + j];
        } else if (c.arity() == 3 && c.needs_grad(2)) {
            if (c.in(2).dim() >= 2) {  // a bias per row (an addend, e.g. x_t's projection): db = dY
                store_or_add<T>(c.grad_in(2), [dy](std::size_t i) { return dy[i]; });
            } else {
                T* __restrict db = c.grad_in(2).for_add().data<T>();
                const T* __restrict g = dy;
                for (std::size_t r = 0; r < m; ++r)
                    for (std::size_t j = 0; j < out; ++j) db[j] += g[r * out + j];
            }
        }
    });
}

constexpr std::size_t npos_step = ~std::size_t{0};  // linear_impl: not a sequence step

// linear, and linear_at when `step` is given: the addend is then step `step` of a sequence [rows, T, out].
static var linear_impl(op id, std::initializer_list<var> args, std::size_t step = npos_step) {
    auto r = record(id, args);
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
        r.attrs().step = step;
    } else if (has_bias && !row_bias && (r.in(2).dim() != 1 || r.in(2).shape()[0] != out_f)) {
        throw_shape_error(name, "bias " + shape_str(r.in(2).shape()) + " does not match weight " + shape_str(ws) +
                                    " and input " + shape_str(xs) + " (expected bias [" + std::to_string(out_f) +
                                    "] or " + shape_str(os) + ")");
    }
    // an addend's rows: ld floats apart from row to row, from `first` on (one sequence step, or all rows)
    const std::size_t add_ld = at_step ? r.in(2).shape()[1] * out_f : out_f, add_first = at_step ? step * out_f : 0;
    const std::uint32_t wi = r.self().inputs[1];
    gemm::note_use(r.owner(), wi);
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
            return;
        }
        gemm::forward<T>(r.owner(), wi, m, x.data<T>(), has_bias ? T(1) : T(0), yp);
    });
    return r.finish(linear_backward);
}

var linear(const var& x, const var& w) { return linear_impl(op::linear, {x, w}); }
var linear(const var& x, const var& w, const var& b) { return linear_impl(op::linear, {x, w, b}); }
var linear_at(const var& x, const var& w, const var& seq, std::size_t t) {
    return linear_impl(op::linear_at, {x, w, seq}, t);
}

// Y = Xᵀ over the last two axes   dX = dYᵀ
static void transpose_backward(backward_ctx& c) {
    if (!c.needs_grad(0)) return;
    const shape_t& s = c.in(0).shape();
    const std::size_t rows = s[s.size() - 2], cols = s[s.size() - 1], batch = c.in(0).size() / std::max<std::size_t>(rows * cols, 1);
    tensor& gx = c.grad_in(0).for_add();
    with_dtype(gx.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* dy = c.grad_out.data<T>();
        T* dx = gx.data<T>();
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t i = 0; i < rows; ++i)
                for (std::size_t j = 0; j < cols; ++j) dx[(b * rows + i) * cols + j] += dy[(b * cols + j) * rows + i];
    });
}
var transpose(const var& x) {
    auto r = record(op::transpose, {x});
    const tensor& a = r.in(0);
    if (a.dim() < 2) throw_shape_error(op_name(op::transpose), "needs at least 2 dimensions, got " + shape_str(a.shape()));
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
