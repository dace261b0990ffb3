#pragma once
// Training, evaluating, sampling and saving a character-level language model (nn::char_model,
// nn/models.hpp; the library behind `xgrad generate` and examples/charlm.cpp):
//
//   auto data = nn::split_corpus(nn::read_corpus({"a.txt"}));   // nn/text.hpp
//   nn::char_model model({.cell = "lstm", .hidden = 128}, data.vocab);
//   nn::train_char_model(model, data.train, data.held_out, {.steps = 1000}, on_progress);
//   double bpc = nn::bits_per_char(model, data.held_out);      // held-out bits per character
//   std::string s = nn::sample(model, "The ", 400, 0.8, seed);  // seeded; temperature 0 = greedy
//   nn::save_char_model("m.npz", model);  auto m2 = nn::load_char_model("m.npz");
//
// Training is truncated BPTT: `batch` streams start at evenly spaced points of the training text, each
// step trains on the next `seq` characters of every stream, and the recurrent state is carried to the
// next chunk as values (no gradient flows across chunk boundaries).
//
// Data-parallel (char_train_options::parallel, nn/data_parallel.hpp, docs/distributed.md): with R ranks
// the text is cut into batch × R streams, as for one process with batch × R, and rank r trains streams
// r·batch .. (r+1)·batch − 1; the gradients are averaged before clipping, the reported training loss is
// the mean over ranks, and every rank evaluates the whole held-out text (identical replicas: the same
// value everywhere). Step for step this is one process training the R groups of streams and averaging
// their gradients (for two ranks bit for bit, tested), and within rounding one process with batch × R.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "models.hpp"

namespace xgrad::nn {

class data_parallel;

// Bits per character of predicting ids[i + 1] from ids[0..i], for every i: one stream from a zero
// state, in chunks of seq with the state carried across (mean cross-entropy in nats / ln 2).
// NaN when ids has fewer than 2 entries.
double bits_per_char(char_model& model, const std::vector<std::size_t>& ids, std::size_t seq = 64);

struct char_train_options {
    std::size_t seq = 64;      // BPTT chunk length
    std::size_t batch = 16;    // parallel streams
    std::size_t steps = 2000;  // optimizer steps
    double lr = 3e-3;          // Adam
    double clip = 1.0;         // global gradient-norm clip (0: off)
    std::size_t eval_every = 0;  // held-out evaluation every this many steps (0: steps / 10, at least 1)
    data_parallel* parallel = nullptr;  // built on this model: train data-parallel (see the top of this file)
};

struct char_train_progress {
    std::size_t step = 0, steps = 0;
    double train_loss = 0;      // mean cross-entropy (nats) over the steps since the last report
    double held_out_bpc = 0;    // NaN in per-step reports (only evaluated every eval_every steps)
    double seconds = 0;         // since training started
    bool evaluated = false;     // held_out_bpc is set (every eval_every steps and at the last step)
};

struct char_train_result {
    double initial_bpc = 0, final_bpc = 0;  // held-out, before and after training
    double seconds = 0;
};

// Adam + cross-entropy with truncated BPTT (see the top of this file). Calls on_step after every step
// (evaluated = false) and after each evaluation (evaluated = true). Throws argument_error when the
// training text is shorter than batch·ranks·(seq + 1) characters.
char_train_result train_char_model(char_model& model, const std::vector<std::size_t>& train,
                                   const std::vector<std::size_t>& held_out, const char_train_options& o,
                                   const std::function<void(const char_train_progress&)>& on_step = {});

// The next-character distribution softmax(logits / temperature) (temperature > 0).
std::vector<double> next_char_probs(const tensor& logits_row, double temperature);

// `length` characters after prime (prime not included). The model first reads prime (every
// character must be in the vocabulary; an empty prime starts from '\n' if known, else the first
// character of the vocabulary), then draws each character from softmax(logits / temperature) with
// rng(seed). temperature 0 = greedy (argmax); negative or non-finite -> argument_error.
std::string sample(char_model& model, const std::string& prime, std::size_t length, double temperature,
                   std::uint64_t seed);

// Checkpoint (the layout `xgrad generate` reads and writes): the parameters plus meta.vocab (byte
// codes, float64 [V]), meta.cell (0 = lstm, 1 = gru), meta.hidden, meta.embed (0-d float64) and
// meta.charlm (the format version, 1).
void save_char_model(const std::string& path, const char_model& model);
// Reads the archive once: the arrays' headers, then the metadata (bounded: scalars and at most 256
// codes), checks that the metadata implies exactly the stored arrays' shapes (else checkpoint_error
// naming the file, the metadata keys and the array, before anything is built), builds the model and
// loads the parameters (load_checkpoint with `options`: strict, finite values unless allowed).
// Throws checkpoint errors, and checkpoint_error when the file is not such a checkpoint.
std::unique_ptr<char_model> load_char_model(const std::string& path, const load_options& options = {});

// The parameters (names, shapes) of a char_model with these options and vocabulary size, computed
// without building it: what load_char_model expects the file to hold.
std::vector<std::pair<std::string, shape_t>> char_model_parameter_shapes(const char_model_options& o, std::size_t vocab_size);

}  // namespace xgrad::nn
