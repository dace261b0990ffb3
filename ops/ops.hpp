#pragma once
// Every differentiable op of xgrad. Each call records one node on the active tape; the op's
// forward and backward rules live side by side in ops/<family>.cpp, and its entry in
// ops/registry.hpp gives its name and maths.
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../graph/tape.hpp"
#include "registry.hpp"

namespace xgrad {

// ---- arithmetic: binary ops broadcast like NumPy -------------------------------------------------
var add(const var& a, const var& b);
var sub(const var& a, const var& b);
var mul(const var& a, const var& b);
var div(const var& a, const var& b);
var neg(const var& x);
var pow(const var& x, double p);
var exp(const var& x);
var log(const var& x);
var sqrt(const var& x);
var abs(const var& x);
var square(const var& x);
var clamp(const var& x, double lo, double hi);
// Inverted dropout (ops/dropout.cpp): each element is zeroed with probability p in [0, 1), the others
// scaled by 1/(1-p). The mask is drawn from rng(seed), one uniform u_i per element in row-major order
// (dropped when u_i < p): the same seed and shape give the same mask. p = 0 returns x's values exactly.
var dropout(const var& x, double p, std::uint64_t seed);

inline var operator+(const var& a, const var& b) { return add(a, b); }
inline var operator-(const var& a, const var& b) { return sub(a, b); }
inline var operator*(const var& a, const var& b) { return mul(a, b); }
inline var operator/(const var& a, const var& b) { return div(a, b); }
inline var operator-(const var& x) { return neg(x); }
// A scalar operand becomes a 0-d constant of the other operand's dtype.
var operator+(const var& a, double b);
var operator+(double a, const var& b);
var operator-(const var& a, double b);
var operator-(double a, const var& b);
var operator*(const var& a, double b);
var operator*(double a, const var& b);
var operator/(const var& a, double b);
var operator/(double a, const var& b);

// ---- reductions --------------------------------------------------------------------------------
var sum(const var& x);  // all elements, a 0-d result
var sum(const var& x, std::int64_t axis, bool keepdims = false);
var mean(const var& x);
var mean(const var& x, std::int64_t axis, bool keepdims = false);
var max(const var& x, std::int64_t axis, bool keepdims = false);

// ---- linear algebra (through BLAS, no transposed copies) ----------------------------------------
var matmul(const var& a, const var& b);  // [m,k]·[k,n] or [batch,m,k]·[k,n]
var linear(const var& x, const var& w);  // x·wᵀ, w: [out, in] (PyTorch layout), x: [..., in]
// x·wᵀ + b, b: [out] (added to every row) or the result's shape [..., out] (an addend: a recurrent
// step's h·W_hhᵀ + x_t's projection is one op, no separate add)
var linear(const var& x, const var& w, const var& b);
// x·wᵀ + seq[:, t, :] for x [batch, in] and seq [batch, T, out]: one recurrent step, its product plus
// step t of the input sequence's projection, read in place (no select op, no separate copy of the step).
var linear_at(const var& x, const var& w, const var& seq, std::size_t t);
var transpose(const var& x);             // swaps the last two axes

// ---- shape and indexing ------------------------------------------------------------------------
var reshape(const var& x, const shape_t& shape);
var slice(const var& x, std::int64_t axis, std::size_t start, std::size_t stop);
var concat(std::span<const var> xs, std::int64_t axis);
var concat(std::initializer_list<var> xs, std::int64_t axis);
var stack(std::span<const var> xs, std::int64_t axis);
var stack(std::initializer_list<var> xs, std::int64_t axis);
// Removes `axis`, keeping entry `index`: select(x, 1, t) is time step t of a [batch, time, feature] x.
var select(const var& x, std::int64_t axis, std::size_t index);
// x [batch, T, ...] with each row b reversed in time within its first lengths[b] steps (ops/reverse.cpp):
// y[b, t] = x[b, len_b - 1 - t] for t < len_b, x[b, t] for the padding t >= len_b (left in place).
// lengths: one per row, each <= T (0 leaves a row as it is); empty = every row over all T steps.
// Applied twice it gives x back; a bidirectional layer's reverse direction reads reverse_time(x, lengths).
var reverse_time(const var& x, const std::vector<std::size_t>& lengths = {});
// Rows of weight [vocab, dim] picked by integer-valued indices (any shape): result indices.shape + [dim].
var embedding(const var& indices, const var& weight);

// ---- variable-length sequences (ops/sequence.cpp) ---------------------------------------------------
// A padded batch [batch, T, ...] has one length per row (1 <= len_b <= T for a recurrent layer); row b is
// valid at step t when t < len_b. Lengths enter the ops as a [batch] var of whole numbers in the batch's
// dtype, carrying no gradient: lengths_input makes one (a constant on the active tape).
var lengths_input(const std::vector<std::size_t>& lengths, dtype d);
// One recurrent step under lengths: row b of the result is h_new[b] where t < len_b (still in its
// sequence) and h_old[b] otherwise (held at its final state), copied bit for bit; the gradient goes to
// whichever row was taken. Its DOT label names the rows whose sequence ends at t ("b=1 ends (len 3)").
var mask_step(const var& h_new, const var& h_old, const var& lengths, std::size_t t);
// seq [batch, T, ...] with every padded step (t >= len_b) set to 0, valid steps copied; dseq = dy at the
// valid steps, 0 at the padded ones (PyTorch's pad_packed_sequence output).
var mask_padding(const var& seq, const var& lengths);

// ---- activations -------------------------------------------------------------------------------
var sigmoid(const var& x);
var tanh(const var& x);
var relu(const var& x);
var leaky_relu(const var& x, double slope = 0.01);
var elu(const var& x, double alpha = 1.0);
var gelu(const var& x);  // exact (erf) form
var softplus(const var& x);
var hard_tanh(const var& x, double lo = -1.0, double hi = 1.0);
var softmax(const var& x, std::int64_t axis = -1);
var log_softmax(const var& x, std::int64_t axis = -1);

// An elementwise activation by registry name with default settings ("tanh", "sigmoid", "relu",
// "leaky_relu", "elu", "gelu", "softplus", "hard_tanh"); throws argument_error for other names.
var activation(std::string_view name, const var& x);
// Names accepted by activation().
std::vector<std::string_view> activation_names();
// Returns when activation() accepts `name`; otherwise throws argument_error
// "<who>: unknown activation '<name>' (known: tanh, sigmoid, ...)", the one message for a bad name.
void check_activation(std::string_view name, std::string_view who);

// ---- recurrent cells: the elementwise part of a step in one op (ops/cells.cpp) ---------------------
// LSTM, gates [batch, 4H] = i | f | g | o pre-activations (x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh):
//   c_t = lstm_state(gates, c_{t-1}), h_t = lstm_output(gates, c_t); the maths: their rows in ops/registry.hpp
var lstm_state(const var& gates, const var& c_prev);
var lstm_output(const var& gates, const var& c);
// GRU, x_gates = x·W_ihᵀ + b_ih and h_gates = h·W_hhᵀ + b_hh, both [batch, 3H] = r | z | n:
//   h_t = gru_cell(x_gates, h_gates, h_{t-1}); the maths: its row in ops/registry.hpp
var gru_cell(const var& x_gates, const var& h_gates, const var& h_prev);
// gru_cell with x_gates = seq[:, t] (seq: [batch, T, 3·hidden], the projection of a whole sequence), read
// in place: no select (a copy forward, a scatter backward) per step.
var gru_cell_at(const var& seq, const var& h_gates, const var& h_prev, std::size_t t);

// ---- losses (mean over elements / rows) --------------------------------------------------------
var mse(const var& pred, const var& target);              // shapes must match exactly
var bce(const var& prob, const var& target);              // prob in (0, 1)
var bce_with_logits(const var& logits, const var& target);
// Masked for variable-length sequences: pred and target [B, T, ...], lengths [B] (lengths_input): the mean
// over the valid steps t < len_b only (N = Σ_b min(len_b, T) · the elements of one step); padded steps
// add nothing to the loss and get a zero gradient. Throws argument_error when no step is valid.
var mse(const var& pred, const var& target, const var& lengths);
var bce_with_logits(const var& logits, const var& target, const var& lengths);
var cross_entropy(const var& logits, const var& classes);  // logits [N, C], classes [N] of indices

// Threads of the BLAS library behind matmul and linear (OpenBLAS).
void set_num_threads(int n);
int num_threads();

// Flush denormal (subnormal) floats to zero in this thread's arithmetic (x86 MXCSR FTZ + DAZ), like
// PyTorch's torch.set_flush_denormal. Vanishing gradients (a sigmoid RNN's ∂L/∂h_t shrinks ~4× per
// step back) sink into the denormal range, where every multiply is microcode-slow; with this on they
// become 0 instead. Returns false (and changes nothing) where the CPU offers no such mode.
bool set_flush_denormal(bool on);
bool flush_denormal();

// What the BLAS library is running on. OpenBLAS picks its kernels ("core") once, when it is loaded;
// a CPU model it does not know (common in VMs: "Intel Xeon Processor") makes it fall back to its
// oldest x86-64 kernels (Prescott, SSE3) instead of the AVX2/AVX-512 ones the CPU has.
// `suggested_core` is then the core to request with the environment variable OPENBLAS_CORETYPE.
// OpenBLAS reads it only at load time, so a running process cannot switch: a program that uses xgrad
// opts in by exporting it before it starts (`xgrad bench --blas` prints the value), e.g.
//   OPENBLAS_CORETYPE=SkylakeX ./my_program
// or by re-executing itself with it set, first thing in main, as the `xgrad` program does (cli/main.cpp).
// The library itself never changes the environment or the process.
struct blas_info {
    std::string config;          // openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
    std::string core;            // openblas_get_corename(), e.g. "Prescott" or "SkylakeX"
    std::string suggested_core;  // a better core for this CPU, or "" when `core` is already right
    bool env_set = false;        // OPENBLAS_CORETYPE was set by the environment
};
blas_info blas_config();

}  // namespace xgrad
