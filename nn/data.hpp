#pragma once
// Data helpers: mini-batches with a seeded shuffle, a train/test split, and sliding windows that
// turn a time series into (x, y) pairs for a recurrent network. Samples lie along axis 0 of every
// tensor. Every random order comes from a seeded rng: the same seed gives the same batches.
//
//   auto w = nn::make_windows(series, {.window = 20});           // x [N, 20, F], y [N, F]
//   auto s = nn::train_test_split(w.x, w.y, {.test_fraction = 0.2, .shuffle = false});
//   nn::data_loader data(s.x_train, s.y_train, {.batch_size = 32, .seed = 1});
//   for (int epoch = 0; epoch < 10; ++epoch)
//       for (nn::batch b; data.next(b);) { ... b.x, b.y ... }
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../graph/random.hpp"
#include "../graph/tensor.hpp"

namespace xgrad::nn {

// The rows of t (along axis 0) listed in `rows`, in that order, written into `out` (its buffer is
// reused when it fits). Throws argument_error on an index past the end.
void take_rows(const tensor& t, const std::vector<std::size_t>& rows, tensor& out);
tensor take_rows(const tensor& t, const std::vector<std::size_t>& rows);

// A random permutation of 0..n-1 (Fisher-Yates with gen.index).
std::vector<std::size_t> permutation(std::size_t n, rng& gen);

struct batch {
    tensor x;
    tensor y;                        // undefined when the loader has no targets
    std::vector<std::size_t> index;  // the samples' rows in the loader's tensors
};

struct loader_options {
    std::size_t batch_size = 32;  // Keras' default
    bool shuffle = true;          // a new order every epoch, drawn from rng(seed)
    std::uint64_t seed = 0;
    bool drop_last = false;       // false: the last, smaller batch is kept
    // Data-parallel sharding: the epoch's order (the same on every rank: same seed) is cut into
    // shard_count strided shards, rank r taking positions r, r + count, r + 2·count, ... of it, for
    // floor(N / count) samples each: disjoint, equal in length, and together the whole order when
    // count divides N (else the N mod count samples at the order's end are left out that epoch).
    // Batch j of every rank together are batch j of one process with batch_size × count.
    std::size_t shard_rank = 0;
    std::size_t shard_count = 1;
};

class data_loader {
public:
    // x: [N, ...] inputs; y: [N, ...] targets, or an undefined tensor. Both must have N rows.
    data_loader(tensor x, tensor y, const loader_options& options = {});

    std::size_t samples() const { return n_; }
    // Samples per epoch on this shard (samples() when not sharded).
    std::size_t shard_samples() const { return n_ / o_.shard_count; }
    std::size_t batches_per_epoch() const;
    // Epochs begun so far (the first next() begins epoch 1).
    std::uint64_t epoch() const { return epoch_; }

    // The next batch of the current epoch into `out`, reusing its buffers. Returns false once the
    // epoch is exhausted and resets, so that the following call begins a new epoch (reshuffled):
    //   for (nn::batch b; loader.next(b);) { ... }   // one epoch
    bool next(batch& out);
    // Abandon the current epoch: the next call to next() begins a new one.
    void restart() { pos_ = order_.size(); }
    // The order of the current epoch (sample rows).
    const std::vector<std::size_t>& order() const { return order_; }

private:
    void begin_epoch();
    tensor x_, y_;
    loader_options o_;
    std::size_t n_;
    rng gen_;
    std::vector<std::size_t> order_;
    std::size_t pos_;
    std::uint64_t epoch_ = 0;
    bool in_epoch_ = false;
};

struct split_options {
    double test_fraction = 0.2;  // the test set has ceil(N · fraction) samples (as scikit-learn)
    bool shuffle = true;         // false: the last samples are the test set (time series: no look-ahead)
    std::uint64_t seed = 0;
};

struct split {
    tensor x_train, y_train, x_test, y_test;  // y_* undefined when y is
};

// Throws argument_error unless both sets end up non-empty.
split train_test_split(const tensor& x, const tensor& y, const split_options& options = {});

struct window_options {
    std::size_t window = 10;   // time steps per input
    std::size_t horizon = 1;   // future steps per target
    std::size_t stride = 1;    // steps between the starts of consecutive windows
};

struct windows {
    tensor x;  // [N, window, F]
    tensor y;  // [N, horizon·F]: steps t+window .. t+window+horizon-1, flattened (horizon 1: [N, F])
};

// Sliding windows over a series [T] (one feature) or [T, F]. Window i starts at t = i·stride:
// x[i] = series[t : t+window], y[i] = series[t+window : t+window+horizon];
// N = (T - window - horizon) / stride + 1. Throws argument_error when T < window + horizon.
windows make_windows(const tensor& series, const window_options& options = {});

}  // namespace xgrad::nn
