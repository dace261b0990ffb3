#pragma once
// Supervised learning on your own data (`xgrad train --data`, `xgrad predict`): a sequence_regressor
// whose head gives K values (regress, MSE) or C logits (classify, cross-entropy), its evaluation,
// predictions, early stopping that keeps the best weights, and checkpoints that say how to rebuild it.
//
//   nn::task_model_info info{.task = nn::task_kind::classify, .steps = 8, .features = 8, .outputs = 10};
//   nn::sequence_regressor model(nn::task_model_options(info));
//   nn::fit(model, {train.x, train.y}, {}, {.epochs = 20, .loss = nn::task_loss(info.task)});
//   nn::task_metrics m = nn::evaluate_task(model, test, info.task);   // m.loss, m.accuracy
//   nn::save_task_model("model.npz", model, info);  ... auto [again, i] = nn::load_task_model("model.npz");
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "dataset_io.hpp"
#include "models.hpp"
#include "optim.hpp"

namespace xgrad::nn {

struct task_model_info {
    task_kind task = task_kind::regress;
    std::size_t steps = 1;      // T the model was trained on
    std::size_t features = 1;   // F
    std::size_t outputs = 1;    // regress: K targets; classify: C classes
    std::size_t window = 0;     // > 0: trained on CSV series windows of this length
    std::string cell = "lstm";
    std::string activation = "tanh";
    std::size_t hidden = 32;
    // The cell's stacking (sequence_regressor_options::num_layers, bidirectional, dropout). A checkpoint
    // without these (written before they existed) loads as 1 layer, one direction, no dropout.
    std::size_t layers = 1;
    bool bidirectional = false;
    double dropout = 0;
    dtype dt = dtype::float32;
    std::uint64_t seed = 0;
};

sequence_regressor_options task_model_options(const task_model_info& info);

// mse(prediction, target) or cross_entropy(logits, classes).
std::function<var(const var&, const var&)> task_loss(task_kind task);

struct task_metrics {
    double loss = 0;      // mean over the samples (MSE, or mean cross-entropy)
    double accuracy = 0;  // classify: the share of samples whose largest logit is their label; regress: NaN
};

// Over the whole set in batches, without recording gradients, each sample at data.lengths' length when
// given. data.y must be defined.
task_metrics evaluate_task(sequence_regressor& model, const labelled_data& data, task_kind task, std::size_t batch = 256);

// The model's outputs for x [N, T, F]: [N, K] values or [N, C] logits. lengths: one per sample (each
// read at its own length), or empty (all T steps).
tensor predict_outputs(sequence_regressor& model, const tensor& x, std::size_t batch = 256,
                       const std::vector<std::size_t>& lengths = {});

// Early stopping on a validation loss (Keras' EarlyStopping with restore_best_weights): observe() after
// each epoch keeps a copy of the weights whenever the loss is the lowest so far, and says to stop after
// `patience` epochs without improvement (patience 0: never). restore() puts the best copy back.
class best_weights {
public:
    explicit best_weights(std::size_t patience) : patience_(patience) {}
    bool observe(double loss, std::size_t epoch, const module& m);
    void restore(module& m) const;
    std::size_t best_epoch() const { return best_epoch_; }  // 0 before any observation
    double best_loss() const { return best_; }

private:
    std::size_t patience_, best_epoch_ = 0, since_ = 0;
    double best_ = 0;
    std::vector<tensor> values_;
};

// Baselines on the same split, each fitted on `train` only and scored on `test` (docs/real-data.md).
// persistence_mse: the forecast "next step = last step" (x[:, T-1, :] as the prediction; y must be [N, F]).
double persistence_mse(const labelled_data& test);
// least_squares_mse: y ≈ [x flattened, 1]·β with β from the normal equations of `train` (on a series
// window of W steps this is the least-squares AR(W) with an intercept), in float64.
double least_squares_mse(const labelled_data& train, const labelled_data& test);
// majority_accuracy: always the most frequent class of `train`.
double majority_accuracy(const labelled_data& train, const labelled_data& test);
// logistic_regression: multinomial logistic regression (softmax of [x flattened]·Wᵀ + b, no
// penalty) trained full-batch with Adam (lr 1e-2, `steps` steps) in float64; the test accuracy.
double logistic_regression_accuracy(const labelled_data& train, const labelled_data& test, std::size_t classes,
                                    std::size_t steps = 500, std::uint64_t seed = 0);

// A checkpoint with meta.* arrays describing info (the model rebuilds from the file alone: meta.task,
// steps, features, outputs, window, hidden, layers, bidirectional, dropout, float64, cell, activation), and
// optionally an optimizer's state and more metadata (`xgrad train --data --save`: the epochs done).
void save_task_model(const std::string& path, const module& model, const task_model_info& info,
                     const optimizer* opt = nullptr, const named_tensors& metadata = {});
// Reads the metadata, builds the model and loads its parameters; throws checkpoint_error naming what
// is missing when the file is not an `xgrad train --data` checkpoint.
std::pair<std::unique_ptr<sequence_regressor>, task_model_info> load_task_model(const std::string& path);

}  // namespace xgrad::nn
