#include "fit.hpp"

#include <chrono>
#include <limits>

#include "../graph/dot.hpp"
#include "../ops/ops.hpp"
#include "clip.hpp"
#include "data.hpp"
#include "optim_factory.hpp"

namespace xgrad::nn {

namespace {

dataset weighted_task(std::size_t n, std::size_t steps, std::uint64_t seed, dtype d, bool rising) {
    rng gen(seed);
    dataset out{tensor::zeros({n, steps, 1}, dtype::float64), tensor::zeros({n, 1}, dtype::float64)};
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t t = 0; t < steps; ++t) {
            const double v = gen.uniform();
            out.x.set_flat(i * steps + t, v);
            s += (rising ? 2.0 * double(t + 1) / double(steps) : 1.0) * v;
        }
        out.y.set_flat(i, s);
    }
    out.x = out.x.to(d);
    out.y = out.y.to(d);
    return out;
}

}  // namespace

dataset sum_task(std::size_t n, std::size_t steps, std::uint64_t seed, dtype d) {
    return weighted_task(n, steps, seed, d, false);
}

dataset weighted_sum_task(std::size_t n, std::size_t steps, std::uint64_t seed, dtype d) {
    return weighted_task(n, steps, seed, d, true);
}

namespace {
// The lengths of a batch's samples (empty when the data has none); checks their count once per call.
void check_dataset_lengths(const dataset& d, const char* what) {
    if (!d.lengths.empty() && d.x.defined() && d.lengths.size() != d.x.shape()[0])
        throw argument_error(std::string("nn::") + what + ": the data has " + std::to_string(d.lengths.size()) +
                             " lengths for " + std::to_string(d.x.shape()[0]) + " samples (one per sample, or none)");
}
const std::vector<std::size_t>& batch_lengths(const dataset& d, const batch& b, std::vector<std::size_t>& out) {
    out.clear();
    if (!d.lengths.empty())
        for (auto i : b.index) out.push_back(d.lengths[i]);
    return out;
}
}  // namespace

double evaluate(sequence_regressor& model, const dataset& data, std::size_t batch_size) {
    if (!data.x.defined()) return std::numeric_limits<double>::quiet_NaN();
    check_dataset_lengths(data, "evaluate");
    std::vector<std::size_t> lens;
    no_grad guard;
    mode_guard evaluation(model, false);
    tape t;
    data_loader loader(data.x, data.y, {.batch_size = batch_size, .shuffle = false});
    double sum = 0;
    std::size_t n = 0;
    for (batch b; loader.next(b);) {
        t.clear();
        const std::size_t rows = b.x.shape()[0];
        sum += mse(model(input(b.x), batch_lengths(data, b, lens)), input(b.y)).item() * double(rows);
        n += rows;
    }
    return sum / double(n);
}

fit_result fit(sequence_regressor& model, const dataset& train, const dataset& test, const fit_options& options,
               const fit_callbacks& callbacks, optimizer* opt) {
    check_dataset_lengths(train, "fit");
    mode_guard training(model, true);
    std::vector<std::size_t> lens;
    std::unique_ptr<optimizer> own;
    if (!opt) {
        own = make_optimizer(options.optimizer, model, options.lr);
        opt = own.get();
    }
    data_loader loader(train.x, train.y, {.batch_size = options.batch_size, .shuffle = true, .seed = options.seed,
                                                 .shard_rank = options.shard_rank, .shard_count = options.shard_count});
    std::vector<parameter> params;
    for (auto& p : model.parameters())
        if (p.requires_grad()) params.push_back(p);
    fit_result result;
    for (std::size_t e = 0; e < options.epochs_done; ++e)  // an epoch's order is drawn when it begins: run through it
        for (batch skipped; loader.next(skipped);) {
        }
    tape t;
    const std::size_t last = options.epochs_done + options.epochs;
    for (std::size_t epoch = options.epochs_done + 1; epoch <= last; ++epoch) {
        const auto start = std::chrono::steady_clock::now();
        epoch_metrics m{.epoch = epoch, .epochs = last, .steps = loader.batches_per_epoch()};
        // Keras's epoch loss: Σ_b n_b·loss_b / Σ_b n_b (each batch's mean weighted by its rows), so a
        // short last batch counts for its rows only.
        double loss_sum = 0, norm_sum = 0;
        std::size_t step = 0, rows = 0;
        for (batch b; loader.next(b);) {
            t.clear();
            const var pred = model(input(b.x), batch_lengths(train, b, lens));
            var loss = options.loss ? options.loss(pred, input(b.y)) : mse(pred, input(b.y));
            opt->zero_grad();
            t.backward(loss);
            if (callbacks.after_backward) callbacks.after_backward();
            norm_sum += options.clip > 0 ? clip_grad_norm(params, options.clip) : grad_norm(params);
            opt->step();
            const std::size_t n = b.x.shape()[0];
            loss_sum += loss.item() * double(n);
            rows += n;
            ++step;
            ++result.steps;
            if (callbacks.on_batch) callbacks.on_batch(step, m.steps, loss_sum / double(rows));
        }
        m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        m.train_loss = loss_sum / double(rows);
        if (callbacks.reduce_metric) m.train_loss = callbacks.reduce_metric(m.train_loss);
        m.grad_norm = norm_sum / double(step);
        m.test_loss = evaluate(model, test);
        result.history.push_back(m);
        if (callbacks.on_epoch) callbacks.on_epoch(m);
        if (callbacks.stop && callbacks.stop(m)) break;
    }
    return result;
}

std::vector<double> step_grad_norms(sequence_regressor& model, const dataset& batch) {
    tape t;
    var loss = mse(model(input(batch.x)), input(batch.y));
    t.backward(loss);
    std::vector<double> norms;
    for (const auto& h : model.step_outputs()) norms.push_back(l2_norm(h.grad()));
    return norms;
}

}  // namespace xgrad::nn
