// dropout: inverted dropout with a mask drawn from a seed. Element i is kept with probability 1 - p
// and then scaled by 1/(1-p), so E[y] = x; the mask m (0 or 1/(1-p), in x's dtype) is a function of
// (seed, p, x's element count) alone and is saved for the backward rule: dx = dy ⊙ m.
#include <cmath>
#include <string>

#include "../graph/random.hpp"
#include "kernels.hpp"
#include "ops.hpp"

namespace xgrad {

using namespace kernels;

// y = x ⊙ m   dx = dy ⊙ m
static void dropout_backward(backward_ctx& c) {
    if (!c.needs_grad(0)) return;
    with_dtype(c.out.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* __restrict m = c.saved(0).data<T>();
        const T* __restrict dy = c.grad_out.data<T>();
        store_or_add<T>(c.grad_in(0), [&](std::size_t i) { return dy[i] * m[i]; });
    });
}

var dropout(const var& x, double p, std::uint64_t seed) {
    auto r = record(op::dropout, {x});
    const tensor& a = r.in(0);
    if (!(p >= 0.0 && p < 1.0))  // also refuses NaN
        throw_argument_error(op_name(op::dropout), "probability p = " + number_str(p) +
                                                       " must be in [0, 1) (the fraction of elements set to zero)");
    r.attrs().scale = p;
    tensor& mask = r.save(0);
    mask.reshape_storage(a.shape(), a.dtype());
    tensor& out = r.out(a.shape(), a.dtype());
    // One uniform draw per element in row-major order: element i is dropped when u_i < p.
    rng gen(seed);
    with_dtype(a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T keep = static_cast<T>(1.0 / (1.0 - p));
        const T* xp = a.data<T>();
        T* m = mask.data<T>();
        T* y = out.data<T>();
        for (std::size_t i = 0, n = a.size(); i < n; ++i) {
            m[i] = gen.uniform() < p ? T(0) : keep;
            y[i] = xp[i] * m[i];
        }
    });
    return r.finish(dropout_backward);
}

}  // namespace xgrad
