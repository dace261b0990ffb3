// Variable-length sequences: a padded batch [batch, T, ...] with per-row lengths len_b (a [batch] input
// of whole numbers, in the batch's dtype, carrying no gradient). Row b is valid at step t when
// t < len_b. Both ops pick or zero whole rows by copying: a valid element is passed on bit for bit
// and a padded one never enters any arithmetic (no m·a + (1 - m)·b), so padding values, even NaN,
// cannot reach a result or a gradient.
#include <algorithm>

#include "kernels.hpp"
#include "ops.hpp"

namespace xgrad {

using namespace kernels;

std::vector<std::size_t> kernels::read_lengths(op id, const tensor& len, std::size_t batch) {
    if (len.dim() != 1 || len.shape()[0] != batch)
        throw_shape_error(op_name(id), "lengths must be [batch=" + std::to_string(batch) + "], got " +
                                           shape_str(len.shape()));
    std::vector<std::size_t> out(batch);
    with_dtype(len.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* p = len.data<T>();
        for (std::size_t b = 0; b < batch; ++b) {
            if (!is_index_below(p[b], std::size_t{1} << 40))
                throw_argument_error(op_name(id), "lengths[" + std::to_string(b) + "] = " +
                                                      number_str(static_cast<double>(p[b])) +
                                                      " is not a whole number >= 0");
            out[b] = static_cast<std::size_t>(p[b]);
        }
    });
    return out;
}

namespace {

// "b=1 ends (len 3)", "b=0,2 end (len 3)": the rows whose sequence stops at step t (len_b == t), which
// this step holds for the first time; "holds b=1" when every held row ended earlier.
std::string mask_label(const std::vector<std::size_t>& len, std::size_t t) {
    std::string ends, holds;
    std::size_t n_ends = 0;
    for (std::size_t b = 0; b < len.size(); ++b) {
        // (append, not "," + ...: GCC 12 -Wrestrict)
        if (len[b] == t) {
            if (n_ends++) ends.push_back(',');
            ends.append(std::to_string(b));
        } else if (len[b] < t) {
            if (!holds.empty()) holds.push_back(',');
            holds.append(std::to_string(b));
        }
    }
    if (n_ends) return "b=" + ends + (n_ends == 1 ? " ends" : " end") + " (len " + std::to_string(t) + ")";
    if (!holds.empty()) return "holds b=" + holds;
    return "";
}

template <class T>
void add_rows(T* dst, const T* src, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace

var lengths_input(const std::vector<std::size_t>& lengths, dtype d) {
    tensor t = tensor::empty({lengths.size()}, d);
    for (std::size_t b = 0; b < lengths.size(); ++b) t.set_flat(b, static_cast<double>(lengths[b]));
    return constant(std::move(t));
}

// y[b] = t < len_b ? h_new[b] : h_old[b]   dh_new[b] += dy[b] where t < len_b, dh_old[b] += dy[b] elsewhere
static void mask_step_backward(backward_ctx& c) {
    const std::size_t t = c.attrs().step, B = c.out.shape()[0], row = c.out.size() / std::max<std::size_t>(B, 1);
    with_dtype(c.out.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* len = c.in(2).data<T>();
        const T* dy = c.grad_out.data<T>();
        for (std::size_t k = 0; k < 2; ++k) {
            if (!c.needs_grad(k)) continue;
            const bool want_valid = k == 0;
            bool any = false;
            for (std::size_t b = 0; b < B && !any; ++b) any = (static_cast<T>(t) < len[b]) == want_valid;
            if (!any) continue;  // this input gets nothing: its buffer stays as it is (zero when fresh)
            T* d = c.grad_in(k).for_add().template data<T>();
            for (std::size_t b = 0; b < B; ++b)
                if ((static_cast<T>(t) < len[b]) == want_valid) add_rows(d + b * row, dy + b * row, row);
        }
    });
}
var mask_step(const var& h_new, const var& h_old, const var& lengths, std::size_t t) {
    auto r = record(op::mask_step, {h_new, h_old, lengths});
    const tensor& a = r.in(0);
    const tensor& b0 = r.in(1);
    if (a.dim() == 0 || a.shape() != b0.shape())
        throw_shape_error(op_name(op::mask_step), "h_new " + shape_str(a.shape()) + " and h_old " +
                                                      shape_str(b0.shape()) + " must have one shape [batch, ...]");
    const std::size_t B = a.shape()[0], row = a.size() / std::max<std::size_t>(B, 1);
    const auto len = read_lengths(op::mask_step, r.in(2), B);
    r.attrs().step = t;
    r.self().name = mask_label(len, t);
    tensor& out = r.out(a.shape(), a.dtype());
    with_dtype(a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* y = out.data<T>();
        for (std::size_t b = 0; b < B; ++b) {
            const T* src = (t < len[b] ? a : b0).template data<T>() + b * row;
            std::copy_n(src, row, y + b * row);
        }
    });
    return r.finish(mask_step_backward);
}

// y[b, t] = t < len_b ? x[b, t] : 0   dx[b, t] += dy[b, t] where t < len_b
static void mask_padding_backward(backward_ctx& c) {
    if (!c.needs_grad(0)) return;
    const auto& s = c.out.shape();
    const std::size_t B = s[0], T_ = s[1], inner = c.out.size() / std::max<std::size_t>(B * T_, 1);
    tensor& g = c.grad_in(0).for_add();
    with_dtype(g.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* len = c.in(1).data<T>();
        const T* dy = c.grad_out.data<T>();
        T* dx = g.data<T>();
        for (std::size_t b = 0; b < B; ++b) {
            const std::size_t n = std::min(T_, static_cast<std::size_t>(len[b]));
            add_rows(dx + b * T_ * inner, dy + b * T_ * inner, n * inner);
        }
    });
}
var mask_padding(const var& seq, const var& lengths) {
    auto r = record(op::mask_padding, {seq, lengths});
    const tensor& x = r.in(0);
    if (x.dim() < 2)
        throw_shape_error(op_name(op::mask_padding), "sequence must be [batch, time, ...], got " + shape_str(x.shape()));
    const std::size_t B = x.shape()[0], T_ = x.shape()[1], inner = x.size() / std::max<std::size_t>(B * T_, 1);
    const auto len = read_lengths(op::mask_padding, r.in(1), B);
    tensor& out = r.out(x.shape(), x.dtype());
    with_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* p = x.data<T>();
        T* y = out.data<T>();
        for (std::size_t b = 0; b < B; ++b) {
            const std::size_t n = std::min(T_, len[b]) * inner, off = b * T_ * inner;
            std::copy_n(p + off, n, y + off);
            std::fill(y + off + n, y + off + T_ * inner, T(0));
        }
    });
    return r.finish(mask_padding_backward);
}

}  // namespace xgrad
