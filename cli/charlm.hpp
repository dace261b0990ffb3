#pragma once
// A character-level language model (used by `xgrad generate` and examples/charlm.cpp):
//   embedding -> LSTM or GRU (one layer) -> linear head over the vocabulary, cross-entropy.
//
//   std::string text = read_corpus({"a.txt"});              // clear errors for missing/empty files
//   auto data = split_corpus(text);                          // vocabulary + last 10 % held out
//   char_model model({.cell = "lstm", .hidden = 128}, data.vocab);
//   train_charlm(model, data.train, data.held_out, {.steps = 1000}, on_progress);
//   double bpc = bits_per_char(model, data.held_out);        // held-out bits per character
//   std::string s = sample(model, "The ", 400, 0.8, seed);   // seeded; temperature 0 = greedy
//   save_charlm("m.npz", model);  auto m2 = load_charlm("m.npz");
//
// Characters are bytes: UTF-8 text is modelled byte by byte. Training is truncated BPTT: `batch`
// streams start at evenly spaced points of the training text, each step trains on the next `seq`
// characters of every stream, and the recurrent state is carried to the next chunk as values (no
// gradient flows across chunk boundaries).
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace xgrad::cli {

// The distinct bytes of a text, sorted; ids are positions in `chars`.
class vocabulary {
public:
    vocabulary() { ids_.fill(-1); }
    explicit vocabulary(const std::string& text);  // every distinct byte of text
    static vocabulary from_chars(const std::string& chars);  // chars distinct, in id order
    std::size_t size() const { return chars_.size(); }
    const std::string& chars() const { return chars_; }
    bool contains(char c) const { return ids_[static_cast<unsigned char>(c)] >= 0; }
    std::size_t id(char c) const;  // throws argument_error for a byte outside the vocabulary
    char at(std::size_t id) const { return chars_.at(id); }
    // ids of text's characters; bytes outside the vocabulary are dropped and counted in *dropped
    // (or throw argument_error naming the first one when dropped is null)
    std::vector<std::size_t> encode(const std::string& text, std::size_t* dropped = nullptr) const;

private:
    std::string chars_;
    std::array<int, 256> ids_{};
};

// Printable form of a byte for messages: 'a', '\n', 0x9f.
std::string describe_char(char c);

// The files' contents concatenated (in order). Throws argument_error for a file that cannot be read,
// an empty file, or a total text with fewer than 2 distinct characters.
std::string read_corpus(const std::vector<std::string>& files);
// Every docs/*.md under dir, sorted by name (the default corpus of `xgrad generate --train`).
std::vector<std::string> default_corpus_files(const std::string& docs_dir);

struct corpus {
    vocabulary vocab;
    std::vector<std::size_t> train;     // the first (1 - held_out) of the text
    std::vector<std::size_t> held_out;  // the rest
};
// The vocabulary covers the whole text; the split is at the byte nearest to (1 - held_out)·size.
corpus split_corpus(const std::string& text, double held_out = 0.1);

struct charlm_options {
    std::string cell = "lstm";  // lstm | gru
    std::size_t hidden = 128;
    std::size_t embed = 32;
    std::uint64_t seed = 0;     // initialisation
};

// The recurrent state carried between calls (one entry per layer; empty = zeros).
struct charlm_state {
    std::vector<tensor> h, c;  // c: lstm only
    void reset() { h.clear(); c.clear(); }
};

// Parameters: "embed.weight", "lstm.*" or "gru.*" (PyTorch's names), "head.weight", "head.bias".
class char_model : public nn::module {
public:
    char_model(const charlm_options& o, vocabulary v);
    // ids [B, T] (as floats) -> logits [B·T, V] (row b·T + t predicts the character after ids[b, t]).
    // state is the input state and is replaced by the state after the last step, as values.
    var operator()(const tensor& ids, charlm_state& state);
    const charlm_options& options() const { return o_; }
    const vocabulary& vocab() const { return v_; }

private:
    charlm_options o_;
    vocabulary v_;
    std::unique_ptr<nn::embedding> embed_;
    std::unique_ptr<nn::lstm> lstm_;
    std::unique_ptr<nn::gru> gru_;
    std::unique_ptr<nn::linear> head_;
};

// Bits per character of predicting ids[i + 1] from ids[0..i], for every i: one stream from a zero
// state, in chunks of seq with the state carried across (mean cross-entropy in nats / ln 2).
// NaN when ids has fewer than 2 entries.
double bits_per_char(char_model& model, const std::vector<std::size_t>& ids, std::size_t seq = 64);

struct charlm_train_options {
    std::size_t seq = 64;      // BPTT chunk length
    std::size_t batch = 16;    // parallel streams
    std::size_t steps = 2000;  // optimizer steps
    double lr = 3e-3;          // Adam
    double clip = 1.0;         // global gradient-norm clip (0: off)
    std::size_t eval_every = 0;  // held-out evaluation every this many steps (0: steps / 10, at least 1)
};

struct charlm_progress {
    std::size_t step = 0, steps = 0;
    double train_loss = 0;      // mean cross-entropy (nats) over the steps since the last report
    double held_out_bpc = 0;    // NaN in per-step reports (only evaluated every eval_every steps)
    double seconds = 0;         // since training started
    bool evaluated = false;     // held_out_bpc is set (every eval_every steps and at the last step)
};

struct charlm_train_result {
    double initial_bpc = 0, final_bpc = 0;  // held-out, before and after training
    double seconds = 0;
};

// Adam + cross-entropy with truncated BPTT (see the top of this file). Calls on_step after every step
// (evaluated = false) and after each evaluation (evaluated = true). Throws argument_error when the
// training text is shorter than batch·(seq + 1) characters.
charlm_train_result train_charlm(char_model& model, const std::vector<std::size_t>& train,
                                 const std::vector<std::size_t>& held_out, const charlm_train_options& o,
                                 const std::function<void(const charlm_progress&)>& on_step = {});

// The next-character distribution softmax(logits / temperature) (temperature > 0).
std::vector<double> next_char_probs(const tensor& logits_row, double temperature);

// `length` characters after prime (prime not included). The model first reads prime (every
// character must be in the vocabulary; an empty prime starts from '\n' if known, else the first
// character of the vocabulary), then draws each character from softmax(logits / temperature) with
// rng(seed). temperature 0 = greedy (argmax); negative or non-finite -> argument_error.
std::string sample(char_model& model, const std::string& prime, std::size_t length, double temperature,
                   std::uint64_t seed);

// Checkpoint: the parameters plus meta.vocab (byte codes, float64 [V]), meta.cell (0 = lstm,
// 1 = gru), meta.hidden, meta.embed (0-d float64), meta.charlm (format version, 1).
void save_charlm(const std::string& path, const char_model& model);
// Builds the model from the metadata, then loads the parameters (strict). Throws checkpoint errors,
// and checkpoint_error when the file is not a charlm checkpoint.
std::unique_ptr<char_model> load_charlm(const std::string& path);

}  // namespace xgrad::cli
