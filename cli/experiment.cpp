// The tutorial's experiment: data, model, training loop, evaluation (see experiment.hpp).
#include "experiment.hpp"

#include <chrono>
#include <cmath>
#include <limits>

namespace xgrad::cli {

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

sequence_regressor::sequence_regressor(const model_options& o) : module("sequence_regressor"), o_(o) {
    nn::recurrent_options r;
    r.input_size = o.input_size;
    r.hidden_size = o.hidden;
    r.activation = o.activation;
    r.init = o.init;
    r.seed = o.seed;
    r.dt = o.dt;
    r.fused = o.fused;
    if (o.cell == "rnn") {
        rnn_ = std::make_unique<nn::rnn>(r);
        register_module("rnn", *rnn_);
    } else if (o.cell == "lstm") {
        lstm_ = std::make_unique<nn::lstm>(r);
        register_module("lstm", *lstm_);
    } else if (o.cell == "gru") {
        gru_ = std::make_unique<nn::gru>(r);
        register_module("gru", *gru_);
    } else {
        throw argument_error("sequence_regressor: unknown cell '" + o.cell + "' (use rnn, lstm or gru)");
    }
    head_ = std::make_unique<nn::linear>(o.hidden, o.output_size, true, o.init, o.seed + 1, o.dt);
    register_module("head", *head_);
}

var sequence_regressor::operator()(const var& x) {
    var h = rnn_ ? (*rnn_)(x) : lstm_ ? (*lstm_)(x) : (*gru_)(x);
    return (*head_)(h);
}

const std::vector<var>& sequence_regressor::step_outputs() const {
    return rnn_ ? rnn_->step_outputs() : lstm_ ? lstm_->step_outputs() : gru_->step_outputs();
}

std::unique_ptr<nn::optimizer> make_optimizer(const std::string& name, const nn::module& m, double lr) {
    if (name == "sgd") {
        auto o = nn::sgd_options::keras();
        o.lr = lr;
        return std::make_unique<nn::sgd>(m, o);
    }
    if (name == "adam") {
        auto o = nn::adam_options::keras();
        o.lr = lr;
        return std::make_unique<nn::adam>(m, o);
    }
    if (name == "adamw") {
        auto o = nn::adamw_options::keras();
        o.lr = lr;
        return std::make_unique<nn::adamw>(m, o);
    }
    if (name == "rmsprop") {
        auto o = nn::rmsprop_options::keras();
        o.lr = lr;
        return std::make_unique<nn::rmsprop>(m, o);
    }
    throw argument_error("unknown optimizer '" + name + "' (use sgd, adam, adamw or rmsprop)");
}

double evaluate(sequence_regressor& model, const dataset& data, std::size_t batch_size) {
    if (!data.x.defined()) return std::numeric_limits<double>::quiet_NaN();
    no_grad guard;
    tape t;
    nn::data_loader loader(data.x, data.y, {.batch_size = batch_size, .shuffle = false});
    double sum = 0;
    std::size_t n = 0;
    for (nn::batch b; loader.next(b);) {
        t.clear();
        const std::size_t rows = b.x.shape()[0];
        sum += mse(model(input(b.x)), input(b.y)).item() * double(rows);
        n += rows;
    }
    return sum / double(n);
}

fit_result fit(sequence_regressor& model, const dataset& train, const dataset& test, const fit_options& options,
               const fit_callbacks& callbacks, nn::optimizer* opt) {
    std::unique_ptr<nn::optimizer> own;
    if (!opt) {
        own = make_optimizer(options.optimizer, model, options.lr);
        opt = own.get();
    }
    nn::data_loader loader(train.x, train.y,
                           {.batch_size = options.batch_size, .shuffle = true, .seed = options.seed});
    std::vector<parameter> params;
    for (auto& p : model.parameters())
        if (p.requires_grad()) params.push_back(p);
    fit_result result;
    tape t;
    for (std::size_t epoch = 1; epoch <= options.epochs; ++epoch) {
        const auto start = std::chrono::steady_clock::now();
        epoch_metrics m{.epoch = epoch, .epochs = options.epochs, .steps = loader.batches_per_epoch()};
        double loss_sum = 0, norm_sum = 0;
        std::size_t step = 0;
        for (nn::batch b; loader.next(b);) {
            t.clear();
            var loss = mse(model(input(b.x)), input(b.y));
            opt->zero_grad();
            t.backward(loss);
            norm_sum += options.clip > 0 ? nn::clip_grad_norm(params, options.clip) : nn::grad_norm(params);
            opt->step();
            loss_sum += loss.item();
            ++step;
            ++result.steps;
            if (callbacks.on_batch) callbacks.on_batch(step, m.steps, loss_sum / double(step));
        }
        m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        m.train_loss = loss_sum / double(step);
        m.grad_norm = norm_sum / double(step);
        m.test_loss = evaluate(model, test);
        result.history.push_back(m);
        if (callbacks.on_epoch) callbacks.on_epoch(m);
    }
    return result;
}

}  // namespace xgrad::cli
