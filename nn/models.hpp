#pragma once
// Ready-made models built from the layers, each holding its recurrent cell as a
// std::unique_ptr<recurrent_base> chosen by name (make_recurrent).
//
//   sequence_regressor: the tutorial's model, a sequence in and a vector out
//     nn::sequence_regressor model({.cell = "rnn", .hidden = 50});  // rnn|lstm|gru + linear head
//     var y = model(x);                                             // x [B, T, F] -> [B, out]
//     var y = model(x, {5, 2, 3});                                  // padded batch: rows of 5, 2, 3 steps
//     nn::sequence_regressor deep({.cell = "gru", .hidden = 32, .num_layers = 2, .bidirectional = true,
//                                  .dropout = 0.2});                // the head reads [B, 2·32]
//   char_model: a character-level language model (trained and sampled with nn/char_lm.hpp)
//     nn::char_model lm({.cell = "lstm", .hidden = 128}, vocab);    // embedding -> lstm|gru -> linear
//     var logits = lm(ids, state);                                  // ids [B, T] -> [B·T, V]
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embedding.hpp"
#include "linear.hpp"
#include "recurrent.hpp"
#include "text.hpp"

namespace xgrad::nn {

struct sequence_regressor_options {
    std::string cell = "rnn";         // rnn | lstm | gru
    std::string activation = "tanh";  // rnn only
    std::size_t hidden = 50;
    std::size_t input_size = 1;
    std::size_t output_size = 1;
    init_style init = init_style::keras;
    std::uint64_t seed = 0;           // the cell's; the head's is seed + 1
    dtype dt = dtype::float32;
    bool fused = true;  // lstm/gru: fused cell ops (recurrent_options::fused)
    bool textbook = false;  // each step reads its own x_t and W_ih (recurrent_options::textbook; same numbers)
    // keras: rnn and lstm with Keras's single bias "<cell>.bias_l0" (recurrent_options::biases; gru
    // unchanged); pytorch: "<cell>.bias_ih_l0" and "<cell>.bias_hh_l0".
    bias_layout biases = bias_layout::pytorch;
    // The cell's stacking, directions and dropout between its layers (recurrent_options::num_layers,
    // bidirectional, dropout, dropout_seed). The defaults are the one-layer, one-direction model.
    std::size_t num_layers = 1;
    bool bidirectional = false;  // the cell's last output is [B, 2·hidden]: cat(h_n forward, h_n reverse)
    double dropout = 0;          // in [0, 1): after every layer but the last, in training mode only
    std::optional<std::uint64_t> dropout_seed = std::nullopt;  // the masks' stream; unset: seed
};

// cell(x)[last output] -> linear head. Parameters: "rnn.*" (or "lstm.*", "gru.*") and "head.weight/bias";
// head.weight is [out, hidden], or [out, 2·hidden] when bidirectional.
class sequence_regressor : public module {
public:
    explicit sequence_regressor(const sequence_regressor_options& o);
    var operator()(const var& x);  // x [B, T, F] -> [B, out]
    // A padded batch with one length per row (1 <= len_b <= T): the head reads each row's state at its
    // own length (recurrent.hpp, "Variable-length batches"); empty lengths: operator()(x).
    var operator()(const var& x, const std::vector<std::size_t>& lengths);
    const sequence_regressor_options& options() const { return o_; }
    // The cell's h_t of every step of the latest call (recurrent_base::step_outputs(); valid until
    // the tape is cleared): after backward, their grads are ∂L/∂h_t, the vanishing-gradient curve.
    const std::vector<var>& step_outputs() const { return cell_->step_outputs(); }
    // The recurrent layer (e.g. its dropout_calls(), to resume a run's dropout stream).
    recurrent_base& cell() { return *cell_; }
    const recurrent_base& cell() const { return *cell_; }

private:
    sequence_regressor_options o_;
    std::unique_ptr<recurrent_base> cell_;
    std::unique_ptr<linear> head_;
};

struct char_model_options {
    std::string cell = "lstm";  // lstm | gru
    std::size_t hidden = 128;
    std::size_t embed = 32;
    std::uint64_t seed = 0;     // initialisation
};

// The recurrent state carried between calls, as values (one entry per layer; empty = zeros).
struct char_model_state {
    std::vector<tensor> h, c;  // c: lstm only
    void reset() { h.clear(); c.clear(); }
};

// embedding -> one LSTM or GRU layer -> linear head over the vocabulary. Parameters: "embed.weight",
// "lstm.*" or "gru.*" (PyTorch's names), "head.weight", "head.bias".
class char_model : public module {
public:
    char_model(const char_model_options& o, vocabulary v);
    // ids [B, T] (as floats) -> logits [B·T, V] (row b·T + t predicts the character after ids[b, t]).
    // state is the input state and is replaced by the state after the last step, as values: a var
    // does not outlive tape.clear(), so the state crosses calls (truncated BPTT chunks) as tensors.
    var operator()(const tensor& ids, char_model_state& state);
    const char_model_options& options() const { return o_; }
    const vocabulary& vocab() const { return v_; }

private:
    char_model_options o_;
    vocabulary v_;
    std::unique_ptr<embedding> embed_;
    std::unique_ptr<recurrent_base> cell_;
    std::unique_ptr<linear> head_;
};

}  // namespace xgrad::nn
