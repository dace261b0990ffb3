// Shape and indexing ops. Along an axis a tensor is read as [outer, n, inner], so slicing,
// concatenating, stacking and selecting are block copies, and their backward rules add the
// same blocks back.
#include <cmath>

#include "kernels.hpp"
#include "ops.hpp"

namespace xgrad {

using namespace kernels;

namespace {

// Copy (forward) or accumulate (backward) blocks: dst[o, dst_off + k, i] (op)= src[o, src_off + k, i]
// for k < len, with dst/src axis lengths dn/sn.
template <bool Accumulate, class T>
void block_copy(T* dst, std::size_t dn, std::size_t dst_off, const T* src, std::size_t sn, std::size_t src_off,
                std::size_t len, std::size_t outer, std::size_t inner) {
    for (std::size_t o = 0; o < outer; ++o) {
        T* d = dst + (o * dn + dst_off) * inner;
        const T* s = src + (o * sn + src_off) * inner;
        for (std::size_t i = 0; i < len * inner; ++i) {
            if constexpr (Accumulate) d[i] += s[i];
            else d[i] = s[i];
        }
    }
}

}  // namespace

// y = x viewed as another shape   dx = dy viewed back
static void reshape_backward(backward_ctx& c) {
    if (!c.needs_grad(0)) return;
    tensor& gx = c.grad_in(0).for_add();
    with_dtype(gx.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* dy = c.grad_out.data<T>();
        T* dx = gx.data<T>();
        for (std::size_t i = 0, n = gx.size(); i < n; ++i) dx[i] += dy[i];
    });
}
var reshape(const var& x, const shape_t& shape) {
    auto r = record(op::reshape, {x});
    const tensor& a = r.in(0);
    const std::size_t n = element_count(shape, "reshape");  // overflow-checked: a wrapped product is refused
    if (n != a.size())
        throw_shape_error(op_name(op::reshape), "cannot reshape " + shape_str(a.shape()) + " (" + std::to_string(a.size()) +
                                         " elements) to " + shape_str(shape) + " (" + std::to_string(n) + " elements)");
    r.attrs().shape = shape;
    tensor& out = r.out(shape, a.dtype());
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* p = a.data<T>();
        T* q = out.data<T>();
        for (std::size_t i = 0; i < n; ++i) q[i] = p[i];
    });
    return r.finish(reshape_backward);
}

// y = x[start:stop] along axis   dx[start:stop] += dy   (select: the same with the axis removed)
static void slice_backward(backward_ctx& c) {
    if (!c.needs_grad(0)) return;
    const auto sp = split_at(c.in(0).shape(), static_cast<std::size_t>(c.attrs().axis));
    const std::size_t start = c.attrs().start, len = c.attrs().stop - start;
    tensor& gx = c.grad_in(0).for_add();
    with_dtype(gx.dtype(), [&](auto t) {
        using T = decltype(t);
        block_copy<true>(gx.data<T>(), sp.n, start, c.grad_out.data<T>(), len, 0, len, sp.outer, sp.inner);
    });
}

static var slice_impl(op id, const var& x, std::int64_t axis, std::size_t start, std::size_t stop, bool drop_axis) {
    auto r = record(id, {x});
    const tensor& a = r.in(0);
    if (a.dim() == 0) throw_shape_error(op_name(id), "cannot index a 0-d tensor");
    const std::size_t ax = norm_axis(id, axis, a.dim());
    const std::size_t n = a.shape()[ax];
    if (start > stop || stop > n) {
        if (drop_axis)
            throw_argument_error(op_name(id), "index " + std::to_string(start) + " is out of range for axis " +
                                                  std::to_string(ax) + " of length " + std::to_string(n) + " (shape " +
                                                  shape_str(a.shape()) + ")");
        throw_argument_error(op_name(id), "range [" + std::to_string(start) + ", " + std::to_string(stop) +
                                              ") is out of bounds for axis " + std::to_string(ax) + " of length " +
                                              std::to_string(n) + " (shape " + shape_str(a.shape()) + ")");
    }
    r.attrs().axis = static_cast<std::int64_t>(ax);
    r.attrs().start = start;
    r.attrs().stop = stop;
    shape_t os = a.shape();
    if (drop_axis) os.erase(os.begin() + static_cast<std::ptrdiff_t>(ax));
    else os[ax] = stop - start;
    const auto sp = split_at(a.shape(), ax);
    tensor& out = r.out(os, a.dtype());
    with_dtype(a.dtype(), [&](auto t) {
        using T = decltype(t);
        block_copy<false>(out.data<T>(), stop - start, 0, a.data<T>(), sp.n, start, stop - start, sp.outer, sp.inner);
    });
    return r.finish(slice_backward);
}

var slice(const var& x, std::int64_t axis, std::size_t start, std::size_t stop) {
    return slice_impl(op::slice, x, axis, start, stop, false);
}
var select(const var& x, std::int64_t axis, std::size_t index) {
    return slice_impl(op::select, x, axis, index, index + 1, true);
}

// y = [x0 | x1 | ...] along axis (stack: each xi has a size-1 axis there)   dxi = its block of dy
static void concat_backward(backward_ctx& c) {
    const auto ax = static_cast<std::size_t>(c.attrs().axis);
    const auto ys = split_at(c.out.shape(), ax);
    const bool stacked = c.attrs().stacked;
    std::size_t offset = 0;
    for (std::size_t j = 0; j < c.arity(); ++j) {
        const std::size_t len = stacked ? 1 : c.in(j).shape()[ax];
        if (c.needs_grad(j)) {
            tensor& g = c.grad_in(j).for_add();
            with_dtype(g.dtype(), [&](auto t) {
                using T = decltype(t);
                block_copy<true>(g.data<T>(), len, 0, c.grad_out.data<T>(), ys.n, offset, len, ys.outer, ys.inner);
            });
        }
        offset += len;
    }
}

static var concat_impl(std::span<const var> xs, std::int64_t axis, bool stacked) {
    const op id = stacked ? op::stack : op::concat;
    if (xs.empty()) throw_argument_error(op_name(id), "needs at least one input");
    auto r = record(id, xs);
    const shape_t& first = r.in(0).shape();
    const std::size_t rank = stacked ? first.size() + 1 : first.size();
    const std::size_t ax = norm_axis(id, axis, rank);
    std::size_t total = 0;
    for (std::size_t j = 0; j < r.arity(); ++j) {
        const shape_t& s = r.in(j).shape();
        bool ok = s.size() == first.size();
        for (std::size_t k = 0; ok && k < s.size(); ++k)
            if (k != ax || stacked) ok = s[k] == first[k];
        if (!ok)
            throw_shape_error(op_name(id), "input " + std::to_string(j) + " has shape " + shape_str(s) +
                                               " but input 0 has " + shape_str(first) +
                                               (stacked ? " (all shapes must be equal)"
                                                        : " (all axes but " + std::to_string(ax) + " must match)"));
        total += stacked ? 1 : s[ax];
    }
    shape_t os;  // first, with `total` at axis ax (inserted when stacking; svector::insert trips GCC 12's -Warray-bounds)
    for (std::size_t k = 0; k < first.size() + (stacked ? 1 : 0); ++k)
        os.push_back(k == ax ? total : first[k < ax || !stacked ? k : k - 1]);
    r.attrs().axis = static_cast<std::int64_t>(ax);
    r.attrs().stacked = stacked;
    const auto ys = split_at(os, ax);
    tensor& out = r.out(os, r.in(0).dtype());
    with_dtype(out.dtype(), [&](auto t) {
        using T = decltype(t);
        std::size_t offset = 0;
        for (std::size_t j = 0; j < r.arity(); ++j) {
            const std::size_t len = stacked ? 1 : r.in(j).shape()[ax];
            block_copy<false>(out.data<T>(), ys.n, offset, r.in(j).data<T>(), len, 0, len, ys.outer, ys.inner);
            offset += len;
        }
    });
    return r.finish(concat_backward);
}

var concat(std::span<const var> xs, std::int64_t axis) { return concat_impl(xs, axis, false); }
var concat(std::initializer_list<var> xs, std::int64_t axis) {
    return concat_impl(std::span<const var>(xs.begin(), xs.size()), axis, false);
}
var stack(std::span<const var> xs, std::int64_t axis) { return concat_impl(xs, axis, true); }
var stack(std::initializer_list<var> xs, std::int64_t axis) {
    return concat_impl(std::span<const var>(xs.begin(), xs.size()), axis, true);
}

// y[..., :] = W[idx[...], :]   dW[idx[...], :] += dy[..., :]   (idx carries no gradient)
static void embedding_backward(backward_ctx& c) {
    if (!c.needs_grad(1)) return;
    const tensor& idx = c.in(0);
    tensor& gw = c.grad_in(1).for_add();
    const std::size_t dim = gw.shape()[1];
    with_dtype(gw.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* ip = idx.data<T>();
        const T* dy = c.grad_out.data<T>();
        T* dw = gw.data<T>();
        for (std::size_t r = 0; r < idx.size(); ++r) {
            const auto row = static_cast<std::size_t>(ip[r]);
            for (std::size_t j = 0; j < dim; ++j) dw[row * dim + j] += dy[r * dim + j];
        }
    });
}
var embedding(const var& indices, const var& weight) {
    auto r = record(op::embedding, {indices, weight});
    const tensor& idx = r.in(0);
    const tensor& w = r.in(1);
    if (w.dim() != 2) throw_shape_error(op_name(op::embedding), "weight must be [vocab, dim], got " + shape_str(w.shape()));
    const std::size_t vocab = w.shape()[0], dim = w.shape()[1];
    shape_t os = idx.shape();
    os.push_back(dim);
    tensor& out = r.out(os, w.dtype());
    with_dtype(w.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* ip = idx.data<T>();
        const T* wp = w.data<T>();
        T* q = out.data<T>();
        for (std::size_t k = 0; k < idx.size(); ++k) {
            const T v = ip[k];
            if (!is_index_below(v, vocab))
                throw_argument_error(op_name(op::embedding), "index " + number_str(static_cast<double>(v)) + " at position " +
                                                      std::to_string(k) + " is not an integer in [0, " +
                                                      std::to_string(vocab) + ")");
            const auto row = static_cast<std::size_t>(v);
            for (std::size_t j = 0; j < dim; ++j) q[k * dim + j] = wp[row * dim + j];
        }
    });
    return r.finish(embedding_backward);
}

}  // namespace xgrad
