// `xgrad train`: the tutorial's experiment (SimpleRNN(50, tanh) + Dense(1), Adam 1e-3, MSE, 20 epochs)
// with options for the cell, sizes, optimizer, dtype, checkpoints, frozen parameters and a metrics log.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include <xgrad/nn/data_parallel.hpp>
#include <xgrad/nn/dist.hpp>

#include "commands.hpp"
#include "train_config.hpp"

namespace xgrad::cli {

void add_train_options(CLI::App& sub, train_config& c) {
    sub.add_option("--cell", c.model.cell, "Recurrent cell")->check(CLI::IsMember({"rnn", "lstm", "gru"}))->capture_default_str();
    sub.add_option("--activation", c.model.activation, "RNN activation (tanh, sigmoid, relu, ...)")->capture_default_str();
    sub.add_option("--hidden", c.model.hidden, "Hidden size")->check(CLI::PositiveNumber)->capture_default_str();
    sub.add_option("--steps", c.steps, "Sequence length")->check(CLI::PositiveNumber)->capture_default_str();
    sub.add_option("--samples", c.samples, "Training samples")->check(CLI::PositiveNumber)->capture_default_str();
    sub.add_option("--test-samples", c.test_samples, "Test samples")->check(CLI::PositiveNumber)->capture_default_str();
    sub.add_option("--epochs", c.fit.epochs, "Epochs")->check(CLI::NonNegativeNumber)->capture_default_str();
    sub.add_option("--batch", c.fit.batch_size, "Batch size")->check(CLI::PositiveNumber)->capture_default_str();
    sub.add_option("--optimizer", c.fit.optimizer, "Optimizer (Keras defaults)")
        ->check(CLI::IsMember({"sgd", "adam", "adamw", "rmsprop"}))->capture_default_str();
    sub.add_option("--lr", c.fit.lr, "Learning rate")->check(CLI::PositiveNumber)->capture_default_str();
    sub.add_option("--clip", c.fit.clip, "Clip the global gradient norm (0: off)")->check(CLI::NonNegativeNumber)->capture_default_str();
    sub.add_option("--dtype", c.dtype, "Floating-point type")->check(CLI::IsMember({"float32", "float64"}))->capture_default_str();
    sub.add_option("--seed", c.seed, "Seed of data, initialisation and shuffling")->capture_default_str();
    sub.add_option("--save", c.save, "Write a checkpoint (.npz) after training");
    sub.add_option("--load", c.load, "Start from a checkpoint (.npz)")->check(CLI::ExistingFile);
    sub.add_option("--freeze", c.freeze, "Freeze parameters by name or prefix (e.g. rnn)");
    sub.add_option("--log", c.log, "Write per-epoch metrics as CSV");
    sub.add_flag("--quiet,-q", c.quiet, "Print only the Test Loss line");
    add_data_options(sub, c);
}

namespace {

std::string bar(std::size_t step, std::size_t steps) {
    const std::size_t width = 30, done = steps ? step * width / steps : width;
    std::string s = "[";
    for (std::size_t i = 0; i < width; ++i) s += i < done ? (i + 1 == done && step < steps ? '>' : '=') : '.';
    return s + "]";
}

std::string timing(double seconds, std::size_t steps) {
    std::ostringstream o;
    const double per = seconds / double(steps ? steps : 1);  // Keras switches to us/step below 1 ms
    o << std::lround(std::floor(seconds)) << "s ";
    if (per < 1e-3)
        o << std::lround(1e6 * per) << "us/step";
    else
        o << std::lround(1e3 * per) << "ms/step";
    return o.str();
}

}  // namespace

int run_train(const train_config& c) {
    if (!c.data.empty()) return run_train_data(c);
    const dtype d = c.dtype == "float64" ? dtype::float64 : dtype::float32;
    nn::sequence_regressor_options mo = c.model;
    mo.dt = d;
    mo.seed = c.seed;
    nn::fit_options fo = c.fit;
    fo.seed = c.seed;
    const auto train = nn::sum_task(c.samples, c.steps, c.seed, d);
    const auto test = nn::sum_task(c.test_samples, c.steps, c.seed + 1000003, d);
    nn::sequence_regressor model(mo);
    auto opt = nn::make_optimizer(fo.optimizer, model, fo.lr);
    if (!c.load.empty()) nn::load_checkpoint(c.load, model);  // throws checkpoint errors with a full report
    for (const auto& name : c.freeze) model.freeze(name);
    // Under mpirun: data-parallel (docs/distributed.md). --batch is per rank; rank 0 alone prints,
    // logs and saves. Every rank builds the same data and model from --seed; rank 0's parameters
    // are broadcast (after --load too).
    auto& comm = dist::world();
    const bool root = comm.is_root();
    std::unique_ptr<nn::data_parallel> dp;
    if (comm.size() > 1) {
        std::ostringstream fp;
        fp << c.model.cell << ' ' << c.model.activation << ' ' << c.model.hidden << ' ' << c.steps << ' ' << c.samples << ' '
           << c.test_samples << ' ' << c.fit.epochs << ' ' << c.fit.batch_size << ' ' << c.fit.optimizer << ' '
           << c.fit.lr << ' ' << c.fit.clip << ' ' << c.dtype << ' ' << c.seed << ' ' << c.load;
        dp = std::make_unique<nn::data_parallel>(model, comm, nn::data_parallel_options{.fingerprint = fp.str()});
        fo.shard_rank = std::size_t(comm.rank());
        fo.shard_count = std::size_t(comm.size());
    }

    std::ofstream log;
    if (!c.log.empty() && root) {
        log.open(c.log);
        if (!log) throw argument_error("cannot write the metrics log '" + c.log + "'");
        log << "epoch,train_loss,test_loss,seconds,grad_norm\n" << std::setprecision(9);
    }
    const bool quiet = c.quiet || !root;
    const bool tty = !quiet && isatty(fileno(stdout));
    nn::fit_callbacks cb;
    if (dp) {
        cb.after_backward = [&] { dp->finish(); };
        cb.reduce_metric = [&](double v) { return comm.all_reduce(v, dist::reduce::mean); };
    }
    std::size_t epoch = 0;
    if (tty)  // Keras' layout: the header first, then a bar that fills while the epoch runs
        cb.on_batch = [&](std::size_t step, std::size_t steps, double loss) {
            if (step == 1) std::cout << "Epoch " << ++epoch << "/" << fo.epochs << "\n";
            std::cout << "\r" << std::setw(3) << step << "/" << steps << " " << bar(step, steps) << " - loss: "
                      << std::fixed << std::setprecision(4) << loss << std::defaultfloat << std::flush;
        };
    cb.on_epoch = [&](const nn::epoch_metrics& m) {
        if (!quiet) {
            if (tty)
                std::cout << "\r\033[K";
            else
                std::cout << "Epoch " << m.epoch << "/" << m.epochs << "\n";
            std::cout << m.steps << "/" << m.steps << " " << bar(m.steps, m.steps) << " - " << timing(m.seconds, m.steps)
                      << " - loss: " << std::fixed << std::setprecision(4) << m.train_loss << std::defaultfloat << "\n"
                      << std::flush;
        }
        if (log) log << m.epoch << "," << m.train_loss << "," << m.test_loss << "," << m.seconds << "," << m.grad_norm << "\n";
    };
    nn::fit(model, train, test, fo, cb, opt.get());
    if (!c.save.empty() && root) nn::save_checkpoint(c.save, model, opt.get());
    const double test_loss = nn::evaluate(model, test);  // the same on every rank: the replicas are equal
    if (root) std::cout << "Test Loss: " << std::setprecision(8) << test_loss << "\n";
    comm.barrier();  // no rank reads the checkpoint before rank 0 has written it
    return 0;
}

command add_train(CLI::App& app) {
    auto* sub = app.add_subcommand("train", "Train the tutorial's model: a recurrent net learns to sum a sequence");
    auto config = std::make_shared<train_config>();
    add_train_options(*sub, *config);
    return [config] { return run_train(*config); };
}

}  // namespace xgrad::cli
