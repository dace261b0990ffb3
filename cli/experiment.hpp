#pragma once
// The tutorial's experiment as reusable pieces (used by `xgrad train`, `xgrad study` and the examples):
//   auto data  = sum_task(1000, 10, /*seed=*/0);             // X ~ U[0,1) [N,T,1], y = Σ_t X[:,t] [N,1]
//   sequence_regressor model({.cell = "rnn", .hidden = 50});  // rnn|lstm|gru + linear head, Keras init
//   fit_result r = fit(model, data, test, {.epochs = 20}, on_epoch);
//   double test_mse = evaluate(model, test);
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace xgrad::cli {

struct dataset {
    tensor x;  // [N, T, F]
    tensor y;  // [N, out]
};

// The tutorial's data: X ~ U[0,1) of shape [n, steps, 1], y = sum over time [n, 1], drawn from rng(seed).
dataset sum_task(std::size_t n, std::size_t steps, std::uint64_t seed, dtype d = dtype::float32);
// A related task for fine-tuning: y = Σ_t w_t x_t with w_t = 2(t+1)/T rising over time (mean weight ~1).
dataset weighted_sum_task(std::size_t n, std::size_t steps, std::uint64_t seed, dtype d = dtype::float32);

struct model_options {
    std::string cell = "rnn";         // rnn | lstm | gru
    std::string activation = "tanh";  // rnn only
    std::size_t hidden = 50;
    std::size_t input_size = 1;
    std::size_t output_size = 1;
    nn::init_style init = nn::init_style::keras;
    std::uint64_t seed = 0;
    dtype dt = dtype::float32;
    bool fused = true;  // lstm/gru: fused cell ops (nn::recurrent_options::fused)
};

// cell(x)[last step] -> linear head. Parameters: "rnn.*" (or "lstm.*", "gru.*") and "head.weight/bias".
class sequence_regressor : public nn::module {
public:
    explicit sequence_regressor(const model_options& o);
    var operator()(const var& x);  // x [B, T, F] -> [B, out]
    const model_options& options() const { return o_; }
    // The cell's h_t of every step of the latest call (nn::recurrent_base::step_outputs(); valid until
    // the tape is cleared): after backward, their grads are ∂L/∂h_t, the vanishing-gradient curve.
    const std::vector<var>& step_outputs() const;

private:
    model_options o_;
    std::unique_ptr<nn::rnn> rnn_;
    std::unique_ptr<nn::lstm> lstm_;
    std::unique_ptr<nn::gru> gru_;
    std::unique_ptr<nn::linear> head_;
};

// An optimizer by name (sgd | adam | adamw | rmsprop) with Keras' defaults and the given learning rate.
std::unique_ptr<nn::optimizer> make_optimizer(const std::string& name, const nn::module& m, double lr);

struct fit_options {
    std::size_t epochs = 20;
    std::size_t batch_size = 32;
    std::string optimizer = "adam";
    double lr = 1e-3;
    double clip = 0;  // > 0: clip the global gradient norm to this
    std::uint64_t seed = 0;  // shuffle order
};

struct epoch_metrics {
    std::size_t epoch = 0;      // 1-based
    std::size_t epochs = 0;
    std::size_t steps = 0;      // batches in the epoch
    double train_loss = 0;      // mean of the batch losses (as Keras prints)
    double test_loss = 0;       // on the test set after the epoch (NaN when there is none)
    double seconds = 0;         // wall time of the epoch's training
    double grad_norm = 0;       // mean global gradient norm over the epoch's batches (before clipping)
};

// Called after each batch (step, steps, running loss) and after each epoch.
struct fit_callbacks {
    std::function<void(std::size_t step, std::size_t steps, double running_loss)> on_batch;
    std::function<void(const epoch_metrics&)> on_epoch;
};

struct fit_result {
    std::vector<epoch_metrics> history;
    std::uint64_t steps = 0;
};

// Trains with MSE, shuffling every epoch; an optimizer may be given (e.g. to keep its state), else one is
// made from options. `test` may have undefined tensors (no test loss).
fit_result fit(sequence_regressor& model, const dataset& train, const dataset& test, const fit_options& options,
               const fit_callbacks& callbacks = {}, nn::optimizer* opt = nullptr);

// Mean squared error over the whole set (no tape recording kept).
double evaluate(sequence_regressor& model, const dataset& data, std::size_t batch_size = 256);

}  // namespace xgrad::cli
