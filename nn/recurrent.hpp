#pragma once
// Recurrent layers: rnn (Elman), lstm and gru, batch-first, stacked, built only from registered ops.
//
//   nn::lstm lstm({.input_size = 1, .hidden_size = 50, .return_sequences = false, .seed = 7});
//   var y = lstm(x);                  // x [batch, time, 1] -> y [batch, 50] (last output)
//   auto h = lstm.final_h();          // each layer's last hidden state (a tape var)
//   nn::recurrent_base::carried s;    // truncated BPTT: a state that survives tape.clear()
//   var y1 = lstm.forward_chunk(x1, s); t.clear(); var y2 = lstm.forward_chunk(x2, s);
//
// Parameters per layer l follow PyTorch's names, shapes and gate order (docs/pytorch-weights.md):
//   weight_ih_l{l} [G·H, in], weight_hh_l{l} [G·H, H], bias_ih_l{l} [G·H], bias_hh_l{l} [G·H]
//   G = 1 (rnn), 4 (lstm: i, f, g, o), 3 (gru: r, z, n)
// With biases = bias_layout::keras, rnn and lstm have Keras's single bias instead of the two:
//   bias_l{l} [G·H], b below, read once: a_t = x_t·W_ihᵀ + b and r_t = h_{t-1}·W_hhᵀ
// (the same function as b_ih = b, b_hh = 0, but one trained parameter, so Adam steps it once, not twice).
// gru keeps both biases in either layout: Keras's GRU (reset_after=True, its default) has an input and a
// recurrent bias, exactly PyTorch's b_ih and b_hh (b_hn sits inside r ⊙ (h·W_hnᵀ + b_hn)).
// Cells, with a_t = x_t·W_ihᵀ + b_ih (computed for all steps at once) and r_t = h_{t-1}·W_hhᵀ + b_hh:
//   rnn   h_t = act(a_t + r_t)
//   lstm  gates [i f g o] = a_t + r_t;  c_t = lstm_state(gates, c_{t-1});  h_t = lstm_output(gates, c_t)
//   gru   h_t = gru_cell(a_t, r_t, h_{t-1})
// (the cell ops' maths: their rows in ops/registry.hpp, listed in docs/ops.md)
// The forward runs under scope("rnn"|"lstm"|"gru"), then scope("l=<l>") when num_layers > 1, then
// scope("t=<k>") for each time step; the input projection of a layer sits in the layer's scope.
// With textbook = true there is no projection of the whole sequence: each step reads its own x_t
// (select(x, 1, t) in layer 0, the layer below's h_t above it) and records, inside scope t=<k>,
//   rnn   h_t = act((x_t·W_ihᵀ + b_ih) + (h_{t-1}·W_hhᵀ + b_hh))     the tutorial's h_t = σ(W_xh·x_t + W_hh·h_{t-1} + b)
//   lstm  gates = (x_t·W_ihᵀ + b_ih) + (h_{t-1}·W_hhᵀ + b_hh), then the cell as above
//   gru   h_t = gru_cell(x_t·W_ihᵀ + b_ih, h_{t-1}·W_hhᵀ + b_hh, h_{t-1})
// the same maths as training's recording, in another order of additions (equal to rounding).
//
// Variable-length batches (PyTorch's pack_padded_sequence / pad_packed_sequence): a padded batch
// x [batch, T, input] and lengths (one per batch row, 1 <= len_b <= T; row b is valid at steps t < len_b):
//   var y = lstm(x, {}, {}, {5, 2, 3});    rnn(x, {}, lengths), gru(x, {}, lengths), forward(x, initial, lengths)
// - every step's update is taken only where the row is still in its sequence: h_t = mask_step(h_new,
//   h_{t-1}, lengths, t) (and c_t for lstm), a row copy, so a valid row takes h_new bit for bit and a row
//   past its end holds its state; final_h()/final_c() and the return_sequences = false output are each
//   row's state at its own length. The mask is recorded only at the steps where some row has ended
//   (t >= min len_b); its DOT label names the rows ending there ("b=1 ends (len 3)").
// - the input is read through mask_padding (padded steps 0), so padding values, even NaN, reach no
//   output, loss or gradient; with return_sequences the output [batch, T, hidden] is 0 at padded steps
//   (pad_packed_sequence's layout). step_outputs() at padded steps hold the row's final state.
// - empty lengths, or all lengths = T, record exactly the graph of the call without lengths.
// Bad lengths (a count other than the batch, 0, > T) throw shape_error / argument_error naming the
// layer, the batch row, the value and T. Gradients come only from the tape, as always.
//
// The terms of backpropagation through time, read from the tape after backward (step_terms()):
// ∂L/∂W_hh = Σ_t δ_t·h_{t-1}ᵀ and ∂L/∂W_ih = Σ_t δ_t·x_tᵀ, δ_t the gradient of step t's gates.
//
// Bidirectional (recurrent_options::bidirectional, PyTorch's layout): every layer l has a second set of
// parameters weight_ih_l{l}_reverse, weight_hh_l{l}_reverse, bias_ih_l{l}_reverse, bias_hh_l{l}_reverse,
// registered right after the forward direction's (PyTorch's state_dict order). The reverse direction
// runs the same recurrence over reverse_time(x_l) (the layer's input reversed in time) and its outputs
// are reversed back, so at time t the layer's output is [h_fwd_t | h_bwd_t] ([batch, T, 2H]); layer
// l > 0 reads these 2H features. The last output (return_sequences false) is [batch, 2H] =
// [h_fwd after step T-1 | h_bwd after its T steps, i.e. at t = 0]: PyTorch's cat(h_n[-2], h_n[-1]),
// not out[:, -1] (whose backward half has seen one step only). States (h0, c0, final_h(), final_c())
// hold one [batch, H] var per layer and direction, index 2·l + dir (dir 0 forward, 1 reverse):
// PyTorch's h_n index. Scopes: "forward" / "reverse" inside the layer's scope; the reverse direction's
// "t=<k>" is its k-th step (time T-1-k), and step_terms() of a reverse parameter is split likewise.
// textbook and fused work as above in both directions.
//
// Dropout between stacked layers (recurrent_options::dropout = p, PyTorch's): in training mode
// (module::train(), the default) the output of every layer but the last passes through
// xgrad::dropout(·, p, seed) before the next layer reads it (recorded in the lower layer's scope);
// in evaluation mode (eval()) or with p = 0 no dropout node is recorded at all. The seed of the mask
// after layer l in the n-th training call (n = dropout_calls(), counted from 0 per layer object) is
// dropout_mask_seed(dropout_seed, n, l) (nn/dropout.hpp), dropout_seed defaulting to seed: successive
// batches differ, a rerun from the same seeds repeats every mask.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../graph/tape.hpp"
#include "init.hpp"
#include "module.hpp"

namespace xgrad::nn {

// Where the recurrent layers' biases live: PyTorch's two (bias_ih, bias_hh) or Keras's one (bias) for
// rnn and lstm; gru has two in both (see above).
enum class bias_layout { pytorch, keras };

struct recurrent_options {
    std::size_t input_size = 1;
    std::size_t hidden_size = 50;
    std::size_t num_layers = 1;
    std::string activation = "tanh";  // rnn only: any name accepted by xgrad::activation()
    bool return_sequences = false;    // false: last output [batch, hidden]; true: [batch, time, hidden]
    bool bias = true;
    init_style init = init_style::keras;
    std::uint64_t seed = 0;
    dtype dt = dtype::float32;
    // lstm with keras init only: Keras's unit_forget_bias=True, i.e. 1 in the forget gate's part of
    // bias_ih (bias_hh stays 0), so the sum of both biases equals Keras's single bias; with
    // bias_layout::keras, 1 in the forget gate's part of bias_l{l}.
    bool unit_forget_bias = true;
    // lstm and gru: each step's elementwise part as fused cell ops (lstm_state + lstm_output, gru_cell:
    // one pass over the gates forward and backward). false records it gate by gate (slices, sigmoid,
    // tanh, products), the graph to draw when teaching; both give the same values to rounding.
    bool fused = true;
    // Each step records its own input product x_t·W_ihᵀ + b_ih (the textbook picture, see above)
    // instead of one projection of the whole sequence (faster: one product for all steps).
    bool textbook = false;
    // pytorch: bias_ih_l{l} and bias_hh_l{l}; keras: rnn and lstm have one bias_l{l} (gru unchanged).
    bias_layout biases = bias_layout::pytorch;
    // A second, reverse direction per layer (PyTorch's bidirectional=True; see the header comment):
    // outputs and the last output carry 2·hidden features, states 2 per layer.
    bool bidirectional = false;
    // The probability of zeroing an element of each layer's output but the last's, in training mode
    // (PyTorch's dropout), in [0, 1); no effect with one layer or in evaluation mode.
    double dropout = 0;
    // The seed of the dropout masks' stream (see the header comment); unset: seed.
    std::optional<std::uint64_t> dropout_seed = std::nullopt;
};

// What rnn, lstm and gru share: options, parameters, input checks, the final states, and a call that
// works whatever the cell, for code that holds a std::unique_ptr<recurrent_base> (make_recurrent).
class recurrent_base : public module {
public:
    // One [batch, hidden] var per layer (and direction: 2·l + dir, bidirectional): h, and c for lstm
    // only (empty for rnn and gru).
    struct state {
        std::vector<var> h, c;
    };
    // The cell's own call, x [batch, time, input] from `initial` (an empty vector: zeros), recording
    // the same graph: rnn(x, h0), lstm(x, h0, c0), gru(x, h0). rnn and gru reject a non-empty c.
    // lengths: one per batch row (see "Variable-length batches" above); empty: every row has T steps.
    virtual var forward(const var& x, const state& initial, const std::vector<std::size_t>& lengths) = 0;
    var forward(const var& x, const state& initial) { return forward(x, initial, {}); }
    // Each layer's state after the latest call; c: lstm only.
    virtual state final_state() const { return {final_h_, {}}; }
    // A state as values cut from the graph (xgrad::detached), valid across tape.clear(): the carry of
    // truncated BPTT. Empty: zeros.
    struct carried {
        std::vector<detached> h, c;
        bool empty() const { return h.empty() && c.empty(); }
        void reset() { h.clear(); c.clear(); }
    };
    // forward(x, state) from `state` (entering the active tape as constants: no gradient flows into an
    // earlier chunk), then state = the final state, detached. The same values, bit for bit, as copying
    // the final states' values out and feeding them back with input().
    var forward_chunk(const var& x, carried& state);

    const recurrent_options& options() const { return opt_; }
    // Each layer's last hidden state after the latest call ([batch, hidden] each); bidirectional: two
    // per layer, index 2·l + dir (the reverse direction's last state is the one at time 0).
    const std::vector<var>& final_h() const { return final_h_; }
    // The directions per layer: 2 when bidirectional, else 1.
    std::size_t directions() const { return opt_.bidirectional ? 2 : 1; }
    // The top layer's hidden state h_t of every time step of the latest call (T vars, [batch, hidden]
    // each; for lstm the h_t, not c_t; bidirectional: the forward direction's). They are tape vars like any op output: after backward, grad()
    // of step t is the total ∂L/∂h_t (through every later step), as used to measure vanishing
    // gradients. Valid until the tape is cleared; recording them costs no extra tape nodes.
    const std::vector<var>& step_outputs() const { return step_h_; }
    // The latest call's per-row lengths when some row was shorter than T, else empty (every row full).
    // A bidirectional layer's reverse direction reads reverse_time(x, lengths()): each row reversed
    // within its own length, so it starts at the row's last valid step and its padding stays at the end.
    const std::vector<std::size_t>& lengths() const { return lengths_; }

    struct layer_params {
        parameter w_ih, w_hh, b_ih, b_hh;  // biases undefined when options().bias is false
        parameter b;  // bias_layout::keras, rnn and lstm: the single bias (then b_ih, b_hh are undefined)
    };
    // Layer l's parameters; reverse: its reverse direction's (bidirectional only).
    const layer_params& layer(std::size_t l, bool reverse = false) const;

    // Dropout between layers (recurrent_options::dropout): whether this call would record it (training
    // mode, p > 0, more than one layer); the training calls that drew masks so far, and the count to
    // continue from (resuming a run: the next call draws the masks of call n).
    bool dropout_active() const;
    std::uint64_t dropout_calls() const { return dropout_calls_; }
    void set_dropout_calls(std::uint64_t n) { dropout_calls_ = n; }
    // The seed of the mask after layer l in training call n: dropout_mask_seed(dropout_seed, n, l).
    std::uint64_t dropout_mask_seed(std::uint64_t call, std::size_t l) const;

    // After backward() on the tape of the latest call: entry t (t = 0 .. T-1) is time step t's term
    // of the gradient that pass gave w, one of this layer's parameters (see nn::step_terms);
    // for weight_hh δ_t·h_{t-1}ᵀ, for weight_ih δ_t·x_tᵀ. Σ_t = that pass's ∂L/∂w.
    std::vector<tensor> step_terms(const parameter& w) const;

protected:
    recurrent_base(std::string type, const recurrent_options& opt, std::size_t gates);
    // Registers and initialises one direction's weight_ih, weight_hh, bias_ih, bias_hh under the
    // suffix sfx ("_l0", "_l0_reverse"), drawing from gen in that order.
    layer_params make_direction(const std::string& sfx, std::size_t in, rng& gen);
    // Checks x [batch, time, input] and the initial states; returns batch and time.
    void check_input(const var& x, const std::vector<var>& h0, const char* what) const;
    // Checks lengths against x (after check_input) and prepares this call's masking: returns the input
    // the layers read (x, or mask_padding(x) when some row is shorter than T).
    var begin_lengths(const var& x, const std::vector<std::size_t>& lengths);
    // Step t's new state under this call's lengths: h_new, or mask_step(h_new, h_old) once a row has ended.
    var keep(std::size_t t, const var& h_new, const var& h_old) const;
    // The layer's output under this call's lengths: with return_sequences, padded steps set to 0.
    var end_lengths(const var& out) const;
    // The initial state of layer l: h0[l] or zeros [batch, hidden] in x's dtype.
    var initial(const std::vector<var>& h0, std::size_t l, std::size_t batch, dtype d) const;
    // x·W_ihᵀ + b_ih for every time step at once: [batch, time, G·H] (single bias: x·W_ihᵀ + b).
    var project(const var& x, std::size_t l) const;  // x·W_ihᵀ + b_ih: [batch, time, G·H]
    var recur(const var& h, std::size_t l) const;     // h·W_hhᵀ + b_hh (single bias: h·W_hhᵀ): [batch, G·H]
    // textbook: one step's (x_t·W_ihᵀ + b_ih) + (h·W_hhᵀ + b_hh): [batch, G·H]
    // (single bias: (x_t·W_ihᵀ + b) + h·W_hhᵀ)
    var textbook_gates(const var& x_t, const var& h, std::size_t l) const;
    // rnn and lstm add the two projections, so their biases go in once: a = x·W_ihᵀ + (b_ih + b_hh) for
    // the whole sequence (single bias: x·W_ihᵀ + b), then each step is one op, h·W_hhᵀ + a[:, t]
    // (linear_at: step t of a read in place).
    var project_summed_biases(const var& x, std::size_t l) const;
    var recur_at(const var& h, const var& a, std::size_t t, std::size_t l) const;

    recurrent_options opt_;
    std::size_t gates_;
    std::vector<layer_params> layers_;
    std::vector<var> final_h_;
    std::vector<var> step_h_;  // see step_outputs()
    std::uint64_t dropout_calls_ = 0;  // see dropout_calls()
    // This call's lengths: masked_ when some row is shorter than T; then lengths_var_ holds them
    // ([batch], the input's dtype) and mask_from_ = the first step where a row has ended (min len_b).
    bool masked_ = false;
    std::vector<std::size_t> lengths_;  // see lengths(); empty unless masked_
    std::size_t mask_from_ = 0;
    var lengths_var_;
};

class rnn : public recurrent_base {
public:
    explicit rnn(const recurrent_options& opt);
    var operator()(const var& x, const std::vector<var>& h0 = {});
    var operator()(const var& x, const std::vector<var>& h0, const std::vector<std::size_t>& lengths);
    using recurrent_base::forward;
    var forward(const var& x, const state& initial, const std::vector<std::size_t>& lengths) override;
};

class lstm : public recurrent_base {
public:
    explicit lstm(const recurrent_options& opt);
    var operator()(const var& x, const std::vector<var>& h0 = {}, const std::vector<var>& c0 = {});
    var operator()(const var& x, const std::vector<var>& h0, const std::vector<var>& c0,
                   const std::vector<std::size_t>& lengths);
    using recurrent_base::forward;
    var forward(const var& x, const state& initial, const std::vector<std::size_t>& lengths) override;
    const std::vector<var>& final_c() const { return final_c_; }
    state final_state() const override { return {final_h_, final_c_}; }

private:
    std::vector<var> final_c_;
};

class gru : public recurrent_base {
public:
    explicit gru(const recurrent_options& opt);
    var operator()(const var& x, const std::vector<var>& h0 = {});
    var operator()(const var& x, const std::vector<var>& h0, const std::vector<std::size_t>& lengths);
    using recurrent_base::forward;
    var forward(const var& x, const state& initial, const std::vector<std::size_t>& lengths) override;
};

// The layer of that cell name: "rnn", "lstm" or "gru"; throws argument_error for any other name.
std::unique_ptr<recurrent_base> make_recurrent(std::string_view cell, const recurrent_options& opt);

// Each time step's term of the gradient the latest backward on t gave w (any parameter, usually a
// recurrent layer's weight): entry k is the sum of the terms (xgrad::use_contributions) of the ops
// reading w under a scope "t=<k>" (the innermost), k < steps. An op reading w outside every step
// scope whose output is a sequence [batch, steps, ...] (training's input projection, all steps in
// one product) has its term split by time: entry k gets the term of its output gradient's rows
// [:, k] alone (the op's backward rule run once per step, its output gradient zero elsewhere).
// Σ_k entry k = the gradient of that pass (up to the order of the additions).
// Throws argument_error when w has no leaf on t, or an op reads w outside a step scope and its
// output is not such a sequence: e.g. the biases of rnn and lstm in training's recording (b_ih + b_hh
// is added once for all steps); with recurrent_options::textbook each step reads them itself. (The
// single bias b of bias_layout::keras is read by the projection of all steps, whose output is such
// a sequence: its terms are split by step in both recordings.)
std::vector<tensor> step_terms(tape& t, const parameter& w, std::size_t steps);

}  // namespace xgrad::nn
