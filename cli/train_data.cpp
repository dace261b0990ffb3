// `xgrad train --data FILE`: a sequence model on your own data (nn/dataset_io.hpp, nn/supervised.hpp),
// regression or classification, with test and validation parts, early stopping and a metrics log.
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <xgrad/nn/data_parallel.hpp>
#include <xgrad/nn/dist.hpp>

#include "output.hpp"
#include "train_config.hpp"

namespace xgrad::cli {

void add_data_options(CLI::App& sub, train_config& c) {
    sub.add_option("--data", c.data, "Train on this data file: .npz (X [N,T,F], y, lengths) or CSV (docs/cli.md)")
        ->check(CLI::ExistingFile);
    sub.add_option("--task", c.task, "With --data: regress (MSE) or classify (integer labels, cross-entropy)")
        ->check(CLI::IsMember({"regress", "classify"}))->capture_default_str();
    sub.add_option("--test-data", c.test_data, "With --data: the test set, a file of the same layout")->check(CLI::ExistingFile);
    sub.add_option("--test-split", c.test_split, "With --data: test on the last fraction of the file's samples (file order)")
        ->check(CLI::Range(0.0, 1.0));
    sub.add_option("--val-split", c.val_split, "With --data: validate on the last fraction of the training part (before shuffling)")
        ->check(CLI::Range(0.0, 1.0));
    sub.add_option("--patience", c.patience, "With --val-split: stop after N epochs without a lower val_loss; keep the best weights")
        ->check(CLI::NonNegativeNumber);
    sub.add_option("--window", c.window, "With a CSV of series columns: windows of W steps, the next step as target")
        ->check(CLI::NonNegativeNumber);
    sub.add_option("--features", c.features, "With a CSV of one sample per line: features per time step (T = inputs / F)")
        ->check(CLI::PositiveNumber)->capture_default_str();
    sub.add_flag("--baselines", c.baselines, "With a test set: also score baselines fitted on the training part "
                 "(regress: persistence with --window, least squares; classify: majority class, logistic regression)");
}

namespace {

void same_layout(const nn::labelled_data& a, const nn::labelled_data& b, const std::string& what) {
    if (a.x.shape()[1] != b.x.shape()[1] || a.x.shape()[2] != b.x.shape()[2])
        throw nn::data_error(what + ": samples are [T=" + std::to_string(b.x.shape()[1]) + ", F=" + std::to_string(b.x.shape()[2]) +
                             "] but the training data's are [T=" + std::to_string(a.x.shape()[1]) +
                             ", F=" + std::to_string(a.x.shape()[2]) + "]");
    if (a.y.defined() && b.y.defined() && a.y.dim() == 2 && b.y.shape()[1] != a.y.shape()[1])
        throw nn::data_error(what + ": " + std::to_string(b.y.shape()[1]) + " targets per sample, the training data has " +
                             std::to_string(a.y.shape()[1]));
}

// The samples of a then b (the training part and its validation tail, back in file order).
nn::labelled_data concat_parts(const nn::labelled_data& a, const nn::labelled_data& b) {
    nn::labelled_data d;
    tape t;
    d.x = concat({constant(a.x), constant(b.x)}, 0).value();
    d.y = concat({constant(a.y), constant(b.y)}, 0).value();
    return d;
}

}  // namespace

int run_train_data(const train_config& c) {
    const dtype d = c.dtype == "float64" ? dtype::float64 : dtype::float32;
    const nn::task_kind task = c.task == "classify" ? nn::task_kind::classify : nn::task_kind::regress;
    if (!c.test_data.empty() && c.test_split > 0)
        throw argument_error("--test-data and --test-split both give a test set: use one");
    if (c.patience > 0 && !(c.val_split > 0))
        throw argument_error("--patience stops on the validation loss: give --val-split too");
    const nn::data_read_options ro{.task = task, .features = c.features, .window = c.window, .dt = d};
    nn::labelled_data train = nn::read_dataset(c.data, ro), test, val;
    nn::check_lengths(train, "data file '" + c.data + "'");
    if (!c.test_data.empty()) {
        test = nn::read_dataset(c.test_data, ro);
        nn::check_lengths(test, "data file '" + c.test_data + "'");
        same_layout(train, test, "--test-data '" + c.test_data + "'");
    } else if (c.test_split > 0) {
        std::tie(train, test) = nn::split_tail(train, c.test_split, "--test-split");
    }
    if (c.val_split > 0) std::tie(train, val) = nn::split_tail(train, c.val_split, "--val-split");

    nn::task_model_info info;
    info.task = task;
    info.steps = train.x.shape()[1];
    info.features = train.x.shape()[2];
    info.window = c.window;
    info.cell = c.model.cell;
    info.activation = c.model.activation;
    info.hidden = c.model.hidden;
    info.layers = c.model.num_layers;
    info.bidirectional = c.model.bidirectional;
    info.dropout = c.model.dropout;
    info.dt = d;
    info.seed = c.seed;
    if (task == nn::task_kind::classify) {
        info.outputs = nn::check_labels(train, "data file '" + c.data + "'");
        if (val.size()) nn::check_labels(val, "--val-split part of '" + c.data + "'", info.outputs);
        if (test.size()) nn::check_labels(test, c.test_data.empty() ? "--test-split part of '" + c.data + "'" : "data file '" + c.test_data + "'", info.outputs);
    } else {
        info.outputs = train.y.shape()[1];
    }
    auto& comm = dist::world();
    nn::sequence_regressor_options mo = nn::task_model_options(info);
    // Under mpirun each rank draws its own dropout masks (docs/distributed.md); rank 0's are a plain run's.
    mo.dropout_seed = nn::rank_seed(c.seed, comm.rank());
    nn::sequence_regressor model(mo);
    nn::fit_options fo = c.fit;
    fo.seed = c.seed;
    fo.loss = nn::task_loss(task);
    auto opt = nn::make_optimizer(fo.optimizer, model, fo.lr);
    // Resuming (as `xgrad train --load`): weights, this optimizer's state and the epoch count, so that the
    // shuffles continue the same stream. Early stopping starts afresh (docs/cli.md).
    if (!c.load.empty()) {
        fo.epochs_done = load_for_resume(c, model, *opt);
        resume_dropout(c, model);
    }
    for (const auto& name : c.freeze) model.freeze(name);
    // Under mpirun: data-parallel (docs/distributed.md). Every rank reads the same files and splits them
    // alike; --batch is per rank (each takes a strided shard of every epoch's order); rank 0's parameters
    // are broadcast (after --load too). Validation and test sets are evaluated whole on every rank, on
    // equal replicas, so every rank gets the same numbers and stops early at the same epoch. Rank 0 alone
    // prints, logs and saves.
    const bool root = comm.is_root();
    std::unique_ptr<nn::data_parallel> dp;
    if (comm.size() > 1) {
        std::ostringstream fp;
        fp << c.data << ' ' << c.task << ' ' << c.test_data << ' ' << c.test_split << ' ' << c.val_split << ' ' << c.patience
           << ' ' << c.window << ' ' << c.features << ' ' << c.model.cell << ' ' << c.model.activation << ' '
           << c.model.hidden << ' ' << c.model.num_layers << ' ' << c.model.bidirectional << ' ' << c.model.dropout << ' '
           << c.fit.epochs << ' ' << c.fit.batch_size << ' ' << c.fit.optimizer << ' ' << c.fit.lr
           << ' ' << c.fit.clip << ' ' << c.dtype << ' ' << c.seed << ' ' << c.load << ' ' << train.size() << ' '
           << info.outputs;
        dp = std::make_unique<nn::data_parallel>(model, comm, nn::data_parallel_options{.fingerprint = fp.str()});
        fo.shard_rank = std::size_t(comm.rank());
        fo.shard_count = std::size_t(comm.size());
    }

    std::ostringstream log;  // the whole log so far, replaced atomically after every epoch
    log << std::setprecision(9);
    const bool write_log = !c.log.empty() && root;
    if (write_log) {
        log << "epoch,train_loss,val_loss,val_accuracy,seconds,grad_norm\n";
        write_text_file(c.log, log.str(), "train --log");  // an unwritable log fails before training
    }
    const bool quiet = c.quiet || !root;
    const bool classify = task == nn::task_kind::classify;
    nn::best_weights best(c.patience);
    bool stopped = false;
    std::size_t epochs_run = fo.epochs_done;  // what --save records as meta.train.epochs
    nn::fit_callbacks cb;
    if (dp) {
        cb.after_backward = [&] { dp->finish(); };
        cb.reduce_metric = [&](double v) { return comm.all_reduce(v, dist::reduce::mean); };
    }
    cb.on_epoch = [&](const nn::epoch_metrics& m) {
        epochs_run = m.epoch;
        nn::task_metrics v{std::nan(""), std::nan("")};
        if (val.size()) v = nn::evaluate_task(model, val, task);
        if (!quiet) {
            std::cout << "Epoch " << m.epoch << "/" << m.epochs << "\n"
                      << m.steps << "/" << m.steps << " " << progress_bar(m.steps, m.steps) << " - " << keras_timing(m.seconds, m.steps) << std::fixed
                      << std::setprecision(4) << " - loss: " << m.train_loss;
            if (val.size()) {
                std::cout << " - val_loss: " << v.loss;
                if (classify) std::cout << " - val_accuracy: " << v.accuracy;
            }
            std::cout << std::defaultfloat << "\n" << std::flush;
        }
        if (write_log) {
            log << m.epoch << "," << m.train_loss << "," << v.loss << "," << v.accuracy << "," << m.seconds << "," << m.grad_norm << "\n";
            write_text_file(c.log, log.str(), "train --log");
        }
        // The same numbers on every rank (train loss averaged, validation whole): all ranks stop together.
        if (!std::isfinite(m.train_loss) || (val.size() && !std::isfinite(v.loss))) {
            const bool train_bad = !std::isfinite(m.train_loss);
            std::ostringstream o;
            o << "train --data: the " << (train_bad ? "training" : "validation") << " loss is " << (train_bad ? m.train_loss : v.loss)
              << " after epoch " << m.epoch << ": the training diverged"
              << (c.save.empty() ? "" : " and --save '" + c.save + "' was not written")
              << ". Try clipping the gradient norm (--clip 1), a lower learning rate (--lr " << std::setprecision(3) << fo.lr / 10
              << "; now " << fo.lr << ")" << (c.anomaly ? "" : ", or --detect-anomaly to stop at the first op that makes a NaN/inf");
            throw error(o.str());
        }
        if (val.size() && c.patience > 0) stopped = best.observe(v.loss, m.epoch, model);
    };
    cb.stop = [&](const nn::epoch_metrics& m) {
        if (stopped && !quiet) std::cout << "Epoch " << m.epoch << ": early stopping\n";
        return stopped;
    };
    {
        detect_anomaly anomaly(c.anomaly);
        nn::fit(model, {train.x, train.y, train.lengths}, {}, fo, cb, opt.get());
    }
    if (c.patience > 0 && best.best_epoch() > 0) {
        best.restore(model);
        if (!quiet)
            std::cout << "Restoring model weights from the end of the best epoch: " << best.best_epoch() << " (val_loss "
                      << std::setprecision(6) << best.best_loss() << ")\n";
    }
    nn::task_metrics t{std::nan(""), std::nan("")};
    if (test.size()) {
        t = nn::evaluate_task(model, test, task);  // the same on every rank: the replicas are equal
        if (!std::isfinite(t.loss)) {  // weights loaded with --allow-nonfinite and --epochs 0
            if (root) std::cout << "Test Loss: " << t.loss << "\n";
            throw error("train --data: the test loss is " + std::to_string(t.loss) + ": the weights are not finite" +
                        (c.save.empty() ? "" : " and --save '" + c.save + "' was not written") +
                        "; train from an earlier checkpoint, with --clip 1 or a lower --lr");
        }
    }
    // The checkpoint: model, task metadata (for `xgrad predict`), optimizer state and epochs done (for --load).
    if (!c.save.empty() && root) {
        nn::named_tensors meta{{epochs_key, tensor::full({1}, double(epochs_run), dtype::float64)}};
        for (auto& m : dropout_metadata(model)) meta.push_back(m);
        nn::save_task_model(c.save, model, info, opt.get(), meta);
    }
    if (test.size() && root) {
        if (c.baselines) {  // printed before the Test lines, which stay last
            const nn::labelled_data fit_part = val.size() ? concat_parts(train, val) : train;
            std::cout << std::setprecision(8);
            if (classify) {
                std::cout << "Baseline majority class: Test Accuracy: " << nn::majority_accuracy(fit_part, test) << "\n"
                          << "Baseline logistic regression: Test Accuracy: "
                          << nn::logistic_regression_accuracy(fit_part, test, info.outputs, 500, c.seed) << "\n";
            } else {
                if (c.window > 0) std::cout << "Baseline persistence: Test Loss: " << nn::persistence_mse(test) << "\n";
                std::cout << "Baseline least squares: Test Loss: " << nn::least_squares_mse(fit_part, test) << "\n";
            }
        }
        std::cout << "Test Loss: " << std::setprecision(8) << t.loss << "\n";
        if (classify) std::cout << "Test Accuracy: " << std::setprecision(6) << t.accuracy << "\n";
    } else if (!test.size() && !quiet) {
        std::cout << "(no test set: give --test-data FILE or --test-split F for the Test Loss)\n";
    }
    comm.barrier();  // no rank reads the checkpoint before rank 0 has written it
    return 0;
}

}  // namespace xgrad::cli
