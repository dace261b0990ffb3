// `xgrad train`: the tutorial's experiment (SimpleRNN(50, tanh) + Dense(1), Adam 1e-3, MSE, 20 epochs)
// with options for the cell, sizes, optimizer, dtype, checkpoints, frozen parameters and a metrics log.
// The recurrent layer is Keras's by default: rnn and lstm with one bias ("<cell>.bias_l0"); --bias-layout
// pytorch gives PyTorch's two ("<cell>.bias_ih_l0", "<cell>.bias_hh_l0"). gru has two in both.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include <xgrad/nn/data_parallel.hpp>
#include <xgrad/nn/dist.hpp>

#include "commands.hpp"
#include "options.hpp"
#include "output.hpp"
#include "train_config.hpp"

namespace xgrad::cli {

void add_train_options(CLI::App& sub, train_config& c) {
    sub.add_option("--cell", c.model.cell, "Recurrent cell")->check(CLI::IsMember({"rnn", "lstm", "gru"}))->capture_default_str();
    sub.add_option("--activation", c.model.activation, "RNN activation (tanh, sigmoid, relu, ...)")->capture_default_str();
    whole(sub, "--hidden", c.model.hidden, "Hidden size", 1, 4096);
    whole(sub, "--layers", c.model.num_layers, "Stacked recurrent layers", 1, 16);
    sub.add_flag("--bidirectional", c.model.bidirectional,
                 "A reverse direction per layer (PyTorch's layout): the head reads 2 x hidden features");
    real(sub, "--dropout", c.model.dropout, "Dropout between stacked layers in training (needs --layers 2 or more)", 0, 1)
        ->check(CLI::Validator([](std::string& s) -> std::string {  // [0, 1): p = 1 would drop every unit
            return std::strtod(s.c_str(), nullptr) == 1 ? "1 drops every unit; give p in [0, 1)" : "";
        }, "X < 1"));
    whole(sub, "--steps", c.steps, "Sequence length", 1, 100000);
    whole(sub, "--samples", c.samples, "Training samples", 1, 10000000);
    whole(sub, "--test-samples", c.test_samples, "Test samples", 1, 10000000);
    whole(sub, "--epochs", c.fit.epochs, "Epochs (with --load: more epochs after the checkpoint's)", 0, 1000000);
    whole(sub, "--batch", c.fit.batch_size, "Batch size", 1, 10000000);
    sub.add_option("--optimizer", c.fit.optimizer, "Optimizer (Keras defaults)")
        ->check(CLI::IsMember({"sgd", "adam", "adamw", "rmsprop"}))->capture_default_str();
    real(sub, "--lr", c.fit.lr, "Learning rate", 0, 1000, /*low_open=*/true);
    real(sub, "--clip", c.fit.clip, "Clip the global gradient norm (0: off)", 0, 1e12);
    sub.add_option("--dtype", c.dtype, "Floating-point type")->check(CLI::IsMember({"float32", "float64"}))->capture_default_str();
    seed(sub, c.seed, "Seed of data, initialisation and shuffling");
    sub.add_option("--bias-layout", c.bias_layout,
                   "rnn/lstm biases: keras (one, the default) or pytorch (bias_ih and bias_hh); with --load, default: "
                   "the checkpoint's (gru has two in both)")
        ->check(CLI::IsMember({"keras", "pytorch"}));
    sub.add_option("--save", c.save, "Write a checkpoint (.npz) after training");
    sub.add_option("--load", c.load, "Resume from a checkpoint (.npz): weights, optimizer state, epoch count")->check(regular_file());
    sub.add_flag("--allow-nonfinite", c.allow_nonfinite,
                 "With --load: accept NaN/inf weights (to inspect a diverged run; a non-finite loss still exits 1)");
    sub.add_option("--freeze", c.freeze, "Freeze parameters by name or prefix (e.g. rnn)");
    sub.add_option("--log", c.log, "Write per-epoch metrics as CSV");
    sub.add_flag("--quiet,-q", c.quiet, "Print only the Test Loss line");
    add_data_options(sub, c);
    sub.add_flag("--detect-anomaly", c.anomaly, "Anomaly mode: stop at the first op whose value or gradient is NaN/inf, naming it");
}

// The checkpoint's epoch count (0 when it has none, e.g. an exported PyTorch state_dict).
std::size_t epochs_of(const nn::named_tensors& meta, const std::string& path) {
    for (const auto& [name, t] : meta) {
        if (name != epochs_key) continue;
        const double v = t.size() == 1 ? t.flat(0) : -1;
        if (!(v >= 0 && v <= 1e15 && v == std::floor(v)))
            throw argument_error("checkpoint '" + path + "': meta." + epochs_key +
                                 " is not a whole number of epochs; remove it to start counting from 0");
        return static_cast<std::size_t>(v);
    }
    return 0;
}

// The bias layout of the run: --bias-layout, else the checkpoint's (from its arrays: "<cell>.bias_l0" is
// Keras's single bias, "<cell>.bias_ih_l0" PyTorch's pair), else Keras's. A checkpoint of the other
// layout than an explicit --bias-layout is refused, naming the option that loads it.
nn::bias_layout run_biases(const train_config& c, const std::vector<nn::npz_array>& arrays) {
    const nn::bias_layout asked = c.bias_layout == "pytorch" ? nn::bias_layout::pytorch : nn::bias_layout::keras;
    if (c.load.empty() || c.model.cell == "gru") return asked;
    bool single = false, pair = false;
    for (const auto& a : arrays) {
        single = single || a.name == c.model.cell + ".bias_l0";
        pair = pair || a.name == c.model.cell + ".bias_ih_l0";
    }
    if (single == pair) return asked;  // neither (no biases, another cell: load_checkpoint reports it) or both
    const nn::bias_layout found = single ? nn::bias_layout::keras : nn::bias_layout::pytorch;
    if (!c.bias_layout.empty() && found != asked)
        throw argument_error("train: --load '" + c.load + "' holds " +
                             (single ? "Keras's single bias (" + c.model.cell + ".bias_l0)"
                                     : "PyTorch's two biases (" + c.model.cell + ".bias_ih_l0, " + c.model.cell + ".bias_hh_l0)") +
                             " but --bias-layout " + c.bias_layout + " was given; pass --bias-layout " +
                             (single ? "keras" : "pytorch") + " or leave the option out");
    return found;
}

std::size_t load_for_resume(const train_config& c, nn::module& model, nn::optimizer& opt) {
    // The weights, this optimizer's state (Adam's moments and step) and the epoch count, so that
    // --load A --epochs k continues exactly as one longer run. State of another optimizer is not loaded.
    bool own_state = false, other_state = false;
    const std::string mine = std::string(nn::optimizer_prefix) + opt.name() + ".";
    for (const auto& a : nn::read_npz(c.load)) {
        if (a.name.rfind(mine, 0) == 0) own_state = true;
        else if (a.name.rfind(nn::optimizer_prefix, 0) == 0) other_state = true;
    }
    nn::load_checkpoint(c.load, model, own_state ? &opt : nullptr,  // throws with a full report
                        {.allow_nonfinite = c.allow_nonfinite});
    const bool root = dist::world().is_root();
    if (other_state && !own_state && root)
        std::cerr << "xgrad train: note: '" << c.load << "' holds another optimizer's state; --optimizer " << c.fit.optimizer
                  << " starts from fresh state\n";
    if (c.allow_nonfinite && root)
        for (const auto& [name, p] : model.named_parameters())
            if (!all_finite(p.value())) {
                std::cerr << "xgrad train: note: --allow-nonfinite loaded '" << name << "' holding NaN/inf from '" << c.load
                          << "': its losses will not be finite, and training or testing it exits with status 1\n";
                break;
            }
    return epochs_of(nn::read_metadata(c.load), c.load);
}

// --dropout acts between stacked layers only (PyTorch warns and ignores it on one layer; here it is an error).
void check_stacking(const train_config& c) {
    if (c.model.dropout > 0 && c.model.num_layers < 2) {
        std::ostringstream o;
        o << "train: --dropout " << c.model.dropout << " acts between stacked layers, but --layers is "
          << c.model.num_layers << ": give --layers 2 or more, or leave --dropout out";
        throw argument_error(o.str());
    }
}

void resume_dropout(const train_config& c, nn::sequence_regressor& model) {
    for (const auto& [name, t] : nn::read_metadata(c.load)) {
        if (name != dropout_calls_key) continue;
        const double v = t.size() == 1 ? t.flat(0) : -1;
        if (!(v >= 0 && v <= 1e15 && v == std::floor(v)))
            throw argument_error("checkpoint '" + c.load + "': meta." + dropout_calls_key +
                                 " is not a whole number of calls; remove it to restart the dropout masks' stream");
        model.cell().set_dropout_calls(static_cast<std::uint64_t>(v));
    }
}

nn::named_tensors dropout_metadata(const nn::sequence_regressor& model) {
    if (!(model.options().dropout > 0 && model.options().num_layers > 1)) return {};
    return {{dropout_calls_key, tensor::full({1}, double(model.cell().dropout_calls()), dtype::float64)}};
}

int run_train(const train_config& c) {
    check_stacking(c);
    if (!c.data.empty()) {
        if (c.bias_layout == "keras")
            throw argument_error("train: --bias-layout keras is for the tutorial's task; --data models keep PyTorch's two "
                                 "biases (xgrad predict rebuilds them so); leave the option out");
        return run_train_data(c);
    }
    const dtype d = c.dtype == "float64" ? dtype::float64 : dtype::float32;
    constexpr std::uint64_t max_values = std::uint64_t{1} << 28;  // data held as float64 first: 2 GiB
    const std::uint64_t values = (std::uint64_t{c.samples} + c.test_samples) * c.steps;  // < 2^41 within the options' ranges
    if (values > max_values)
        throw argument_error("train: (--samples + --test-samples) × --steps = " + std::to_string(values) +
                             " values exceeds the limit of 2^28 (2 GiB of data); use fewer samples or steps");
    const std::vector<nn::npz_array> loaded = c.load.empty() ? std::vector<nn::npz_array>{} : nn::read_npz(c.load);
    nn::sequence_regressor_options mo = c.model;
    mo.dt = d;
    mo.seed = c.seed;
    mo.biases = run_biases(c, loaded);
    // Under mpirun each rank draws its own dropout masks (docs/distributed.md); rank 0's are a plain run's.
    mo.dropout_seed = nn::rank_seed(c.seed, dist::world().rank());
    nn::fit_options fo = c.fit;
    fo.seed = c.seed;
    const auto train = nn::sum_task(c.samples, c.steps, c.seed, d);
    const auto test = nn::sum_task(c.test_samples, c.steps, c.seed + 1000003, d);
    nn::sequence_regressor model(mo);
    auto opt = nn::make_optimizer(fo.optimizer, model, fo.lr);
    if (!c.load.empty()) {
        fo.epochs_done = load_for_resume(c, model, *opt);
        resume_dropout(c, model);
    }
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
           << c.fit.lr << ' ' << c.fit.clip << ' ' << c.dtype << ' ' << c.seed << ' ' << c.load << ' '
           << (mo.biases == nn::bias_layout::keras ? "keras" : "pytorch") << ' ' << c.model.num_layers << ' '
           << c.model.bidirectional << ' ' << c.model.dropout;
        dp = std::make_unique<nn::data_parallel>(model, comm, nn::data_parallel_options{.fingerprint = fp.str()});
        fo.shard_rank = std::size_t(comm.rank());
        fo.shard_count = std::size_t(comm.size());
    }

    std::ostringstream log;
    log << std::setprecision(9);
    const bool write_log = !c.log.empty() && root;  // rank 0 alone writes the log
    if (write_log) {
        log << "epoch,train_loss,test_loss,seconds,grad_norm\n";
        write_text_file(c.log, log.str(), "train --log");  // an unwritable log fails before training
    }
    const bool quiet = c.quiet || !root;
    const bool tty = !quiet && isatty(fileno(stdout));
    nn::fit_callbacks cb;
    if (dp) {
        cb.after_backward = [&] { dp->finish(); };
        cb.reduce_metric = [&](double v) { return comm.all_reduce(v, dist::reduce::mean); };
    }
    std::size_t epoch = fo.epochs_done;
    const std::size_t last = fo.epochs_done + fo.epochs;
    if (tty)  // Keras' layout: the header first, then a bar that fills while the epoch runs
        cb.on_batch = [&](std::size_t step, std::size_t steps, double loss) {
            if (step == 1) std::cout << "Epoch " << ++epoch << "/" << last << "\n";
            std::cout << "\r" << std::setw(3) << step << "/" << steps << " " << progress_bar(step, steps) << " - loss: "
                      << std::fixed << std::setprecision(4) << loss << std::defaultfloat << std::flush;
        };
    cb.on_epoch = [&](const nn::epoch_metrics& m) {
        if (!quiet) {
            if (tty)
                std::cout << "\r\033[K";
            else
                std::cout << "Epoch " << m.epoch << "/" << m.epochs << "\n";
            std::cout << m.steps << "/" << m.steps << " " << progress_bar(m.steps, m.steps) << " - " << keras_timing(m.seconds, m.steps)
                      << " - loss: " << std::fixed << std::setprecision(4) << m.train_loss << std::defaultfloat << "\n"
                      << std::flush;
        }
        if (write_log) {  // the whole log so far, replaced atomically after every epoch
            log << m.epoch << "," << m.train_loss << "," << m.test_loss << "," << m.seconds << "," << m.grad_norm << "\n";
            write_text_file(c.log, log.str(), "train --log");
        }
        if (!std::isfinite(m.train_loss) || !std::isfinite(m.test_loss)) {
            std::ostringstream o;
            o << "train: the " << (std::isfinite(m.train_loss) ? "test" : "training") << " loss is "
              << (std::isfinite(m.train_loss) ? m.test_loss : m.train_loss) << " after epoch " << m.epoch
              << ": the training diverged" << (c.save.empty() ? "" : " and --save '" + c.save + "' was not written")
              << ". Try clipping the gradient norm (--clip 1), a lower learning rate (--lr " << std::setprecision(3)
              << fo.lr / 10 << "; now " << fo.lr << ")"
              << (c.anomaly ? "" : ", or --detect-anomaly to stop at the first op that makes a NaN/inf");
            throw error(o.str());
        }
    };
    {
        detect_anomaly anomaly(c.anomaly);
        nn::fit(model, train, test, fo, cb, opt.get());
    }
    const double test_loss = nn::evaluate(model, test);  // the same on every rank: the replicas are equal
    if (!std::isfinite(test_loss)) {  // weights loaded with --allow-nonfinite, or --epochs 0 of a diverged run
        if (root) std::cout << "Test Loss: " << test_loss << "\n";
        throw error("train: the test loss is " + std::to_string(test_loss) + ": the weights are not finite" +
                    (c.save.empty() ? "" : " and --save '" + c.save + "' was not written") +
                    "; train from an earlier checkpoint, with --clip 1 or a lower --lr");
    }
    if (!c.save.empty() && root) {
        nn::named_tensors meta{{epochs_key, tensor::full({1}, double(last), dtype::float64)}};
        for (auto& m : dropout_metadata(model)) meta.push_back(m);
        nn::save_checkpoint(c.save, model, opt.get(), {.metadata = meta});
    }
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
