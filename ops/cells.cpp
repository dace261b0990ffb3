// Recurrent cells as single ops: the elementwise part of an LSTM or GRU step in one pass over the
// gates, forward and backward, instead of a dozen slices, activations and products each reading and
// writing a [batch, hidden] tensor. The products (linear) stay separate ops, so the tape still holds
// the network unrolled over time with its shared weights; the gate-level graph is one option away
// (recurrent_options::fused = false) and gives the same numbers.
//
// Gates follow PyTorch's layout: an LSTM's pre-activations are [batch, 4H] = i | f | g | o, a GRU's
// [batch, 3H] = r | z | n (input part and hidden part separate, since n = tanh(x_n + r ⊙ h_n)).
// Each cell's forward and backward maths is its row in ops/registry.hpp; each rule below restates its part.
// Forward saves the gate activations (σ and tanh values), so the backward rules evaluate no exp or tanh.
#include "intrinsics.hpp"  // first: see there
#include <xsimd/xsimd.hpp>

#include <type_traits>

#include "kernels.hpp"
#include "ops.hpp"

namespace xgrad {

using namespace kernels;

namespace {

// f(V{}, j) for j = 0, W, 2W, … with V = xsimd::batch<T> (W lanes) while a whole batch fits, then
// f(T{}, j) one element at a time for the tail; the same formula serves both.
template <class T, class F>
void lanes(std::size_t n, F&& f) {
    using B = xsimd::batch<T>;
    std::size_t j = 0;
    for (; j + B::size <= n; j += B::size) f(B{}, j);
    for (; j < n; ++j) f(T{}, j);
}
// (Not named load/store: argument-dependent lookup would find xsimd::load/store, which are the
// aligned ones, for a batch argument.)
template <class V, class T>
V vload(const T* p) {
    if constexpr (std::is_same_v<V, T>) return *p;
    else return V::load_unaligned(p);
}
template <class V, class T>
void vstore(T* p, const V& v) {
    if constexpr (std::is_same_v<V, T>) *p = v;
    else v.store_unaligned(p);
}
// d = v into a gradient buffer that holds nothing yet (`store`), else d += v.
template <class V, class T>
void vput(T* p, const V& v, bool store) {
    vstore(p, store ? v : vload<V>(p) + v);
}

// A gradient buffer's data and whether to store into it (kernels.hpp: the buffer's state decides),
// or null when the input needs no gradient. The buffer counts as written from here on.
template <class T>
struct grad_out_ptr {
    T* p = nullptr;
    bool store = false;
};
template <class T>
grad_out_ptr<T> writable(backward_ctx& c, std::size_t i) {
    if (!c.needs_grad(i)) return {};
    grad_buffer g = c.grad_in(i);
    grad_out_ptr<T> r{g.data<T>(), g.fresh()};
    g.written();
    return r;
}
template <class V>
V sigm(const V& x) {
    return V(1) / (V(1) + xsimd::exp(-x));
}

// Checks [batch, k·H] gates against a [batch, H] state; returns H.
std::size_t check_gates(op id, const tensor& gates, std::size_t k, const tensor& state, const char* gname,
                        const char* sname) {
    const shape_t& g = gates.shape();
    const shape_t& s = state.shape();
    if (g.size() != 2 || s.size() != 2 || g[0] != s[0] || g[1] != k * s[1])
        throw_shape_error(op_name(id), std::string(gname) + " " + shape_str(g) + " does not match " + sname + " " +
                                           shape_str(s) + " (expected " + gname + " [batch, " + std::to_string(k) +
                                           "·hidden] and " + sname + " [batch, hidden])");
    return s[1];
}

// The forward shared by the cells: the output [rows, H] and the saved activations [rows, k·H], row
// by row: f(V{}, j, in, out_row, act_row) computes lanes j.. of one row, with in[i] pointing at row b
// of input i (inputs are [rows, width_i]; input 0's rows may instead be ld0 apart from first0 on: one
// step of a sequence).
template <class F>
var cell(recorder& r, std::size_t rows, std::size_t H, std::size_t k, backward_fn rule, F f, std::size_t ld0 = 0,
         std::size_t first0 = 0) {
    const dtype d = r.in(0).dtype();
    tensor& out = r.out({rows, H}, d);
    tensor& act = r.save(0);
    act.reshape_storage({rows, k * H}, d);
    with_dtype(d, [&](auto t) {
        using T = decltype(t);
        const std::size_t n = r.arity();
        const T* base[3] = {};
        std::size_t width[3] = {};
        for (std::size_t i = 0; i < n; ++i) {
            base[i] = r.in(i).data<T>();
            width[i] = r.in(i).shape()[1];
        }
        for (std::size_t b = 0; b < rows; ++b) {
            const T* in[3] = {};
            for (std::size_t i = 0; i < n; ++i) in[i] = base[i] + b * width[i];
            if (ld0) in[0] = base[0] + first0 + b * ld0;
            T* o = out.data<T>() + b * H;
            T* a = act.data<T>() + b * k * H;
            lanes<T>(H, [&](auto v, std::size_t j) { f(v, j, in, o, a); });
        }
    });
    return r.finish(rule);
}

}  // namespace

// c = σ(f) ⊙ c_prev + σ(i) ⊙ tanh(g); saved: [i | f | u] = [σ(g_i) | σ(g_f) | tanh(g_g)] per row
// dg_i = dc u i(1 − i), dg_f = dc c_prev f(1 − f), dg_g = dc i (1 − u²), dg_o = 0; dc_prev = dc f
static void lstm_state_backward(backward_ctx& c) {
    const tensor& gates = c.in(0);
    const std::size_t rows = gates.shape()[0], H = gates.shape()[1] / 4;
    with_dtype(gates.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* act = c.saved(0).data<T>();
        const T* cp = c.in(1).data<T>();
        const T* dc = c.grad_out.data<T>();
        T* dg = c.needs_grad(0) ? c.grad_in(0).for_add().data<T>() : nullptr;  // shared with lstm_output's dg_o
        const grad_out_ptr<T> dcp = writable<T>(c, 1);
        for (std::size_t b = 0; b < rows; ++b) {
            const T* a = act + b * 3 * H;
            lanes<T>(H, [&](auto v, std::size_t j) {
                using V = decltype(v);
                const V i = vload<V>(a + j), f = vload<V>(a + H + j), u = vload<V>(a + 2 * H + j);
                const V d = vload<V>(dc + b * H + j);
                if (dg) {
                    T* r = dg + b * 4 * H;
                    vput(r + j, d * u * i * (V(1) - i), false);
                    vput(r + H + j, d * vload<V>(cp + b * H + j) * f * (V(1) - f), false);
                    vput(r + 2 * H + j, d * i * (V(1) - u * u), false);
                }
                if (dcp.p) vput(dcp.p + b * H + j, d * f, dcp.store);
            });
        }
    });
}
var lstm_state(const var& gates, const var& c_prev) {
    auto r = record(op::lstm_state, {gates, c_prev});
    const std::size_t H = check_gates(op::lstm_state, r.in(0), 4, r.in(1), "gates", "c_prev");
    return cell(r, r.in(0).shape()[0], H, 3, lstm_state_backward, [H](auto v, std::size_t j, auto in, auto* o, auto* a) {
        using V = decltype(v);
        const V i = sigm(vload<V>(in[0] + j)), f = sigm(vload<V>(in[0] + H + j));
        const V u = xsimd::tanh(vload<V>(in[0] + 2 * H + j));
        vstore(a + j, i);
        vstore(a + H + j, f);
        vstore(a + 2 * H + j, u);
        vstore(o + j, f * vload<V>(in[1] + j) + i * u);
    });
}

// h = σ(o) ⊙ tanh(c); saved: [o | tc] = [σ(g_o) | tanh(c)] per row
// dg_o = dh tc o(1 − o), dg_{i,f,g} = 0; dc = dh o (1 − tc²)
static void lstm_output_backward(backward_ctx& c) {
    const tensor& gates = c.in(0);
    const std::size_t rows = gates.shape()[0], H = gates.shape()[1] / 4;
    with_dtype(gates.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* act = c.saved(0).data<T>();
        const T* dh = c.grad_out.data<T>();
        const grad_out_ptr<T> dg = writable<T>(c, 0);
        const grad_out_ptr<T> dc = writable<T>(c, 1);
        for (std::size_t b = 0; b < rows; ++b) {
            if (dg.p && dg.store)  // the other gates' part of dg is 0
                for (std::size_t j = 0; j < 3 * H; ++j) dg.p[b * 4 * H + j] = T(0);
            const T* a = act + b * 2 * H;
            lanes<T>(H, [&](auto v, std::size_t j) {
                using V = decltype(v);
                const V o = vload<V>(a + j), u = vload<V>(a + H + j), d = vload<V>(dh + b * H + j);
                if (dg.p) vput(dg.p + b * 4 * H + 3 * H + j, d * u * o * (V(1) - o), dg.store);
                if (dc.p) vput(dc.p + b * H + j, d * o * (V(1) - u * u), dc.store);
            });
        }
    });
}
var lstm_output(const var& gates, const var& c) {
    auto r = record(op::lstm_output, {gates, c});
    const std::size_t H = check_gates(op::lstm_output, r.in(0), 4, r.in(1), "gates", "c");
    return cell(r, r.in(0).shape()[0], H, 2, lstm_output_backward, [H](auto v, std::size_t j, auto in, auto* o, auto* a) {
        using V = decltype(v);
        const V og = sigm(vload<V>(in[0] + 3 * H + j)), u = xsimd::tanh(vload<V>(in[1] + j));
        vstore(a + j, og);
        vstore(a + H + j, u);
        vstore(o + j, og * u);
    });
}

// h = (1 − z) ⊙ n + z ⊙ h_prev, r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r ⊙ h_n); saved: [r | z | n]
// dh_prev = dh z;  a_z = dh (h_prev − n) z(1 − z);  a_n = dh (1 − z)(1 − n²);  a_r = a_n h_n r(1 − r)
// dx = [a_r | a_z | a_n],  dh_gates = [a_r | a_z | a_n ⊙ r]
// gru_cell_at: x is step t of a sequence [batch, T, 3H]; dx goes to that step's rows of its gradient
// (zero-filled once for all steps), so no copy of x_t forward and none of dx backward.
static void gru_cell_backward(backward_ctx& c) {
    const tensor& xg = c.in(0);
    const bool at_step = static_cast<op>(c.self.op) == op::gru_cell_at;
    const std::size_t rows = xg.shape()[0], H = xg.shape().back() / 3;
    const std::size_t ldx = at_step ? xg.shape()[1] * 3 * H : 3 * H;  // dx's rows, this far apart
    const std::size_t first = at_step ? c.attrs().step * 3 * H : 0;
    with_dtype(xg.dtype(), [&](auto t) {
        using T = decltype(t);
        const T* act = c.saved(0).data<T>();
        const T* hp = c.in(1).data<T>();
        const T* prev = c.in(2).data<T>();
        const T* dh = c.grad_out.data<T>();
        // dx: one step's rows of the sequence's gradient, added to (the other steps' rows are theirs)
        grad_out_ptr<T> dx{};
        if (at_step && c.needs_grad(0)) dx = {c.grad_in(0).for_add().data<T>() + first, false};
        else if (!at_step) dx = writable<T>(c, 0);
        const grad_out_ptr<T> dhg = writable<T>(c, 1);
        const grad_out_ptr<T> dprev = writable<T>(c, 2);
        for (std::size_t b = 0; b < rows; ++b) {
            const T* a = act + b * 3 * H;
            const T* hn = hp + b * 3 * H + 2 * H;
            lanes<T>(H, [&](auto v, std::size_t j) {
                using V = decltype(v);
                const V r = vload<V>(a + j), z = vload<V>(a + H + j), n = vload<V>(a + 2 * H + j);
                const V d = vload<V>(dh + b * H + j), p = vload<V>(prev + b * H + j);
                const V az = d * (p - n) * z * (V(1) - z);
                const V an = d * (V(1) - z) * (V(1) - n * n);
                const V ar = an * vload<V>(hn + j) * r * (V(1) - r);
                if (dx.p) {
                    T* o = dx.p + b * ldx;
                    vput(o + j, ar, dx.store);
                    vput(o + H + j, az, dx.store);
                    vput(o + 2 * H + j, an, dx.store);
                }
                if (dhg.p) {
                    T* o = dhg.p + b * 3 * H;
                    vput(o + j, ar, dhg.store);
                    vput(o + H + j, az, dhg.store);
                    vput(o + 2 * H + j, an * r, dhg.store);
                }
                if (dprev.p) vput(dprev.p + b * H + j, d * z, dprev.store);
            });
        }
    });
}

namespace {
// The GRU step's elementwise part, for gru_cell and gru_cell_at (in[0]: x's gates, in[1]: h's gates,
// in[2]: h_prev, one row each).
struct gru_forward {
    std::size_t H;
    template <class V, class P, class T>
    void operator()(V, std::size_t j, P in, T* o, T* a) const {
        const T* x = in[0];
        const T* h = in[1];
        const V r = sigm(vload<V>(x + j) + vload<V>(h + j));
        const V z = sigm(vload<V>(x + H + j) + vload<V>(h + H + j));
        const V n = xsimd::tanh(vload<V>(x + 2 * H + j) + r * vload<V>(h + 2 * H + j));
        vstore(a + j, r);
        vstore(a + H + j, z);
        vstore(a + 2 * H + j, n);
        vstore(o + j, n + z * (vload<V>(in[2] + j) - n));
    }
};
}  // namespace

var gru_cell(const var& x_gates, const var& h_gates, const var& h_prev) {
    auto r = record(op::gru_cell, {x_gates, h_gates, h_prev});
    if (!same_shape(r.in(0).shape(), r.in(1).shape()))
        throw_shape_error(op_name(op::gru_cell), "x_gates " + shape_str(r.in(0).shape()) + " and h_gates " +
                                          shape_str(r.in(1).shape()) + " differ (both are [batch, 3·hidden])");
    const std::size_t H = check_gates(op::gru_cell, r.in(0), 3, r.in(2), "x_gates", "h_prev");
    return cell(r, r.in(0).shape()[0], H, 3, gru_cell_backward, gru_forward{H});
}

var gru_cell_at(const var& seq, const var& h_gates, const var& h_prev, std::size_t t) {
    auto r = record(op::gru_cell_at, {seq, h_gates, h_prev});
    const shape_t& as = r.in(0).shape();
    const shape_t& hs = r.in(1).shape();
    const std::size_t H = check_gates(op::gru_cell_at, r.in(1), 3, r.in(2), "h_gates", "h_prev");
    if (as.size() != 3 || as[0] != hs[0] || as[2] != hs[1])
        throw_shape_error(op_name(op::gru_cell_at), "sequence " + shape_str(as) + " does not match h_gates " + shape_str(hs) +
                                               " (expected sequence [batch, T, 3·hidden] and h_gates [batch, 3·hidden])");
    if (t >= as[1])
        throw_argument_error(op_name(op::gru_cell_at), "step " + std::to_string(t) + " is out of range for a sequence of " +
                                                  std::to_string(as[1]) + " steps (shape " + shape_str(as) + ")");
    r.attrs().axis = 1;
    r.attrs().step = t;
    return cell(r, as[0], H, 3, gru_cell_backward, gru_forward{H}, as[1] * 3 * H, t * 3 * H);
}

}  // namespace xgrad
