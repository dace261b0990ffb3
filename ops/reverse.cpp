// reverse_time: each batch row of a sequence [batch, T, ...] reversed in time within its first len_b
// steps, its padding (steps len_b .. T-1) left in place. The map is a permutation of the time axis
// per row and its own inverse, so the backward rule is the same permutation applied to dy.
#include <string>

#include "kernels.hpp"
#include "ops.hpp"

namespace xgrad {

using namespace kernels;

namespace {

// Row b's source step for output step t: len_b - 1 - t inside the row's length, t in its padding.
inline std::size_t source_step(std::size_t t, std::size_t len) { return t < len ? len - 1 - t : t; }

// dst[b, t, :] (op)= src[b, source_step(t, len_b), :]; lens: one length per row (saved as float64).
template <class T, class Write>
void permute_rows(const T* src, const tensor& lens, std::size_t B, std::size_t steps, std::size_t inner, Write write) {
    const double* len = lens.data<double>();
    for (std::size_t b = 0; b < B; ++b) {
        const auto n = static_cast<std::size_t>(len[b]);
        for (std::size_t t = 0; t < steps; ++t) {
            const T* s = src + (b * steps + source_step(t, n)) * inner;
            const std::size_t d = (b * steps + t) * inner;
            for (std::size_t i = 0; i < inner; ++i) write(d + i, s[i]);
        }
    }
}

}  // namespace

// y[b, t] = x[b, len_b - 1 - t] for t < len_b, x[b, t] otherwise   dx = the same permutation of dy
static void reverse_time_backward(backward_ctx& c) {
    if (!c.needs_grad(0)) return;
    const shape_t& s = c.in(0).shape();
    const std::size_t B = s[0], steps = s[1], inner = steps == 0 || B == 0 ? 0 : c.in(0).size() / (B * steps);
    grad_buffer g = c.grad_in(0);
    with_dtype(g.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* dx = g.data<T>();
        const T* dy = c.grad_out.data<T>();
        if (g.fresh()) permute_rows(dy, c.saved(0), B, steps, inner, [&](std::size_t i, T v) { dx[i] = v; });
        else permute_rows(dy, c.saved(0), B, steps, inner, [&](std::size_t i, T v) { dx[i] += v; });
        g.written();
    });
}

var reverse_time(const var& x, const std::vector<std::size_t>& lengths) {
    auto r = record(op::reverse_time, {x});
    const tensor& a = r.in(0);
    const char* me = op_name(op::reverse_time);
    if (a.dim() < 2)
        throw_shape_error(me, "input must be [batch, time, ...] (at least 2 dimensions), got " + shape_str(a.shape()));
    const std::size_t B = a.shape()[0], steps = a.shape()[1];
    if (!lengths.empty() && lengths.size() != B)
        throw_argument_error(me, "needs one length per batch row (" + std::to_string(B) + " for input " +
                                     shape_str(a.shape()) + "), got " + std::to_string(lengths.size()) +
                                     "; pass no lengths to reverse every row over all " + std::to_string(steps) +
                                     " steps");
    tensor& lens = r.save(0);
    lens.reshape_storage({B}, dtype::float64);
    double* lp = lens.data<double>();
    for (std::size_t b = 0; b < B; ++b) {
        const std::size_t n = lengths.empty() ? steps : lengths[b];
        if (n > steps)
            throw_argument_error(me, "length " + std::to_string(n) + " of batch row " + std::to_string(b) +
                                         " exceeds the " + std::to_string(steps) + " time steps of input " +
                                         shape_str(a.shape()));
        lp[b] = static_cast<double>(n);
    }
    const std::size_t inner = B == 0 || steps == 0 ? 0 : a.size() / (B * steps);
    tensor& out = r.out(a.shape(), a.dtype());
    with_dtype(a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* y = out.data<T>();
        permute_rows(a.data<T>(), lens, B, steps, inner, [&](std::size_t i, T v) { y[i] = v; });
    });
    return r.finish(reverse_time_backward);
}

}  // namespace xgrad
