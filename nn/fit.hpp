#pragma once
// The tutorial's experiment as reusable pieces: its data, a training loop for a sequence_regressor
// with MSE, evaluation, and the per-step gradient norms that show vanishing gradients.
//   auto data = nn::sum_task(1000, 10, /*seed=*/0);            // X ~ U[0,1) [N,T,1], y = Σ_t X[:,t] [N,1]
//   nn::sequence_regressor model({.cell = "rnn", .hidden = 50});
//   nn::fit_result r = nn::fit(model, data, test, {.epochs = 20}, {.on_epoch = print});
//   double test_mse = nn::evaluate(model, test);
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models.hpp"
#include "optim.hpp"

namespace xgrad::nn {

struct dataset {
    tensor x;  // [N, T, F]
    tensor y;  // [N, out]
    // Per-sample sequence lengths (1 <= lengths[i] <= T; padded steps of x beyond them are ignored:
    // recurrent.hpp, "Variable-length batches"); empty: every sample has T steps.
    std::vector<std::size_t> lengths = {};
};

// The tutorial's data: X ~ U[0,1) of shape [n, steps, 1], y = sum over time [n, 1], drawn from rng(seed).
dataset sum_task(std::size_t n, std::size_t steps, std::uint64_t seed, dtype d = dtype::float32);
// A related task for fine-tuning: y = Σ_t w_t x_t with w_t = 2(t+1)/T rising over time (mean weight ~1).
dataset weighted_sum_task(std::size_t n, std::size_t steps, std::uint64_t seed, dtype d = dtype::float32);

struct fit_options {
    std::size_t epochs = 20;
    std::size_t batch_size = 32;
    std::string optimizer = "adam";  // a make_optimizer name, with Keras' defaults
    double lr = 1e-3;
    double clip = 0;  // > 0: clip the global gradient norm to this
    std::uint64_t seed = 0;  // shuffle order
    // The training loss of a batch, loss(prediction, target); empty: mse.
    std::function<var(const var& prediction, const var& target)> loss;
    // Data-parallel training (nn/data_parallel.hpp): this rank's shard of every epoch (loader_options).
    std::size_t shard_rank = 0;
    std::size_t shard_count = 1;
    // Resuming: epochs already trained. Their shuffles are drawn (and nothing else is done) so that
    // epochs_done + 1 .. epochs_done + epochs see the orders of one uninterrupted run.
    std::size_t epochs_done = 0;
};

struct epoch_metrics {
    std::size_t epoch = 0;      // 1-based, counting options.epochs_done
    std::size_t epochs = 0;     // epochs_done + epochs
    std::size_t steps = 0;      // batches in the epoch
    double train_loss = 0;      // mean over the epoch's samples: batch losses weighted by rows (as Keras prints)
    double test_loss = 0;       // on the test set after the epoch (NaN when there is none)
    double seconds = 0;         // wall time of the epoch's training
    double grad_norm = 0;       // mean global gradient norm over the epoch's batches (before clipping)
};

// Called after each batch (step, steps, running loss: the sample mean so far) and after each epoch.
struct fit_callbacks {
    std::function<void(std::size_t step, std::size_t steps, double running_loss)> on_batch;
    std::function<void(const epoch_metrics&)> on_epoch;
    // Asked after on_epoch: true ends training there (early stopping).
    std::function<bool(const epoch_metrics&)> stop;
    // Runs after each backward, before clipping and the optimizer step (data_parallel::finish).
    std::function<void()> after_backward;
    // Turns this rank's epoch train_loss into the job's (the mean over ranks), before on_epoch.
    std::function<double(double)> reduce_metric;
};

struct fit_result {
    std::vector<epoch_metrics> history;
    std::uint64_t steps = 0;
};

// Trains with MSE, shuffling every epoch (each batch with its samples' lengths when train.lengths is set); an optimizer may be given (e.g. to keep its state), else one is
// made from options. `test` may have undefined tensors (no test loss).
fit_result fit(sequence_regressor& model, const dataset& train, const dataset& test, const fit_options& options,
               const fit_callbacks& callbacks = {}, optimizer* opt = nullptr);

// Mean squared error over the whole set (no tape recording kept, data.lengths used); NaN when data.x is undefined.
double evaluate(sequence_regressor& model, const dataset& data, std::size_t batch_size = 256);

// ‖∂L/∂h_t‖ for t = 1..T of L = mse(model(batch.x), batch.y), read from the model's step outputs after
// one backward pass on a tape of its own. Leaves the parameters' gradients set.
std::vector<double> step_grad_norms(sequence_regressor& model, const dataset& batch);

}  // namespace xgrad::nn
