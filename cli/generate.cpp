// `xgrad generate`: a character-level LSTM/GRU language model (nn::char_model, nn/char_lm.hpp).
//   xgrad generate --train [FILE...] [--save charlm.npz]    train (default corpus: the source tree's docs/*.md)
//   xgrad generate --load charlm.npz [--prime "The "]       sample text from a trained model
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include <unistd.h>

#include <xgrad/nn/data_parallel.hpp>
#include <xgrad/xgrad.hpp>

#include "commands.hpp"
#include "options.hpp"

#ifndef XGRAD_SOURCE_DIR
#define XGRAD_SOURCE_DIR "."
#endif

namespace xgrad::cli {

namespace {

struct generate_config {
    std::vector<std::string> train_files;
    std::string load, save = "charlm.npz", prime, eval;
    nn::char_model_options model;
    nn::char_train_options train;
    std::size_t length = 400;
    double temperature = 0.8;
    std::uint64_t seed = 0;
    std::size_t max_corpus_mb = nn::default_max_corpus_bytes >> 20;
    bool quiet = false;
    bool allow_nonfinite = false;  // --load: accept NaN/inf weights (forensics)
    bool anomaly = false;
};

std::string fixed(double x, int digits) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(digits) << x;
    return o.str();
}

std::string bar(std::size_t step, std::size_t steps) {
    const std::size_t width = 30, done = steps ? step * width / steps : width;
    std::string s = "[";
    for (std::size_t i = 0; i < width; ++i) s += i < done ? (i + 1 == done && step < steps ? '>' : '=') : '.';
    return s + "]";
}

// Every *.md directly in docs_dir, sorted by name: the default corpus of --train.
std::vector<std::string> default_corpus_files(const std::string& docs_dir) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(docs_dir, ec))
        if (e.is_regular_file() && e.path().extension() == ".md") files.push_back(e.path().string());
    if (ec || files.empty())
        throw argument_error("no docs/*.md found in '" + docs_dir + "' (the default corpus); give text files: --train FILE...");
    std::sort(files.begin(), files.end());
    return files;
}

// The shortest text that reads back as x (ranks compare options as text).
std::string exact(double x) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    return std::string(buf, r.ptr);
}

// FNV-1a 64 of the text: ranks compare it to be sure they read the same corpus.
std::uint64_t text_hash(const std::string& s) {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
    return h;
}

int run_train_mode(const generate_config& c) {
    std::vector<std::string> files;
    for (const auto& f : c.train_files)  // a bare --train yields one empty value
        if (!f.empty()) files.push_back(f);
    if (files.empty()) files = default_corpus_files(std::string(XGRAD_SOURCE_DIR) + "/docs");
    const std::string text = nn::read_corpus(files, c.max_corpus_mb << 20);
    const nn::corpus data = nn::split_corpus(text, 0.1);
    if (data.held_out.size() < 2)
        throw argument_error("the held-out part (last 10%) of the " + std::to_string(text.size()) +
                             "-byte text is too short to evaluate; give more text");
    nn::char_model_options mo = c.model;
    mo.seed = c.seed;
    nn::char_model model(mo, data.vocab);
    std::size_t params = 0;
    for (auto& [name, p] : model.named_parameters()) params += p.value().size();
    // Under mpirun: data-parallel (docs/distributed.md). --batch is per rank; every rank reads the
    // corpus and builds the model from --seed, rank 0's parameters are broadcast; rank 0 alone prints
    // and writes --save. The ranks' options and corpora are compared at start.
    auto& comm = dist::world();
    nn::char_train_options to = c.train;
    std::unique_ptr<nn::data_parallel> dp;
    if (comm.size() > 1) {
        std::ostringstream fp;
        fp << "cell=" << mo.cell << " hidden=" << mo.hidden << " embed=" << mo.embed << " seq=" << to.seq
           << " batch=" << to.batch << " steps=" << to.steps << " lr=" << exact(to.lr) << " clip=" << exact(to.clip)
           << " eval-every=" << to.eval_every << " seed=" << c.seed << " corpus-bytes=" << text.size()
           << " corpus-hash=" << std::hex << text_hash(text);
        dp = std::make_unique<nn::data_parallel>(model, comm, nn::data_parallel_options{.fingerprint = fp.str()});
        to.parallel = dp.get();
    }
    const bool quiet = c.quiet || !comm.is_root();
    if (!quiet)
        std::cout << "corpus: " << files.size() << (files.size() == 1 ? " file, " : " files, ") << text.size()
              << " characters, vocabulary " << data.vocab.size() << "; training " << data.train.size()
              << ", held-out " << data.held_out.size() << " (last 10%)\n"
              << "model: " << mo.cell << ", hidden " << mo.hidden << ", embed " << mo.embed << ", " << params
              << " parameters; seq " << c.train.seq << ", batch " << c.train.batch
              << (comm.size() > 1 ? " per rank x " + std::to_string(comm.size()) + " ranks" : std::string()) << ", "
              << c.train.steps
                  << " steps, Adam lr " << c.train.lr << ", clip " << c.train.clip << ", seed " << c.seed << "\n"
                  << std::flush;
    const bool tty = !quiet && isatty(fileno(stdout));
    // A non-finite loss ends training with advice; the previous --save file is left as it was.
    const auto check_finite = [&](double loss) {
        if (std::isfinite(loss)) return;
        std::ostringstream o;
        o << "generate --train: the loss is " << loss << ": the training diverged and --save '" << c.save
          << "' was not written. Try clipping the gradient norm (--clip 1; now " << c.train.clip
          << "), a lower learning rate (--lr " << std::setprecision(3) << c.train.lr / 10 << "; now " << c.train.lr << ")"
          << (c.anomaly ? "" : ", or --detect-anomaly to stop at the first op that makes a NaN/inf");
        throw error(o.str());
    };
    auto on_step = [&](const nn::char_train_progress& p) {
        if (!p.evaluated) {
            check_finite(p.train_loss);
            if (tty)
                std::cout << "\rstep " << p.step << "/" << p.steps << " " << bar(p.step, p.steps) << " - "
                          << std::lround(std::floor(p.seconds)) << "s - loss: " << fixed(p.train_loss, 4) << std::flush;
            return;
        }
        if (quiet) return;
        if (tty) std::cout << "\r\033[K";
        check_finite(p.evaluated ? p.held_out_bpc : p.train_loss);
        std::cout << "step " << p.step << "/" << p.steps << " - " << std::lround(std::floor(p.seconds))
                  << "s - loss: " << fixed(p.train_loss, 4) << " (" << fixed(p.train_loss / std::log(2.0), 3)
                  << " bits/char) - held-out: " << fixed(p.held_out_bpc, 3) << " bits/char\n"
                  << std::flush;
    };
    const auto r = [&] {
        detect_anomaly anomaly(c.anomaly);
        return nn::train_char_model(model, data.train, data.held_out, to, on_step);
    }();
    check_finite(r.final_bpc);
    if (!quiet)
        std::cout << "trained in " << fixed(r.seconds, 1) << "s; held-out bits per character " << fixed(r.initial_bpc, 3)
                  << " -> " << fixed(r.final_bpc, 3) << "\n";
    if (comm.is_root()) nn::save_char_model(c.save, model);
    if (!quiet) std::cout << "saved " << c.save << " (sample: xgrad generate --load " << c.save << ")\n";
    if (comm.is_root()) std::cout << "bits per character: " << fixed(r.final_bpc, 4) << " (held-out)\n" << std::flush;
    comm.barrier();  // no rank reads --save before rank 0 has written it
    return 0;
}

int run_sample_mode(const generate_config& c) {
    if (!(c.temperature >= 0) || !std::isfinite(c.temperature))
        throw argument_error("--temperature must be >= 0 (0 = greedy, small = nearly greedy, 1 = the model's own "
                             "distribution), got " + std::to_string(c.temperature));
    auto model = nn::load_char_model(c.load, {.allow_nonfinite = c.allow_nonfinite});
    for (char ch : c.prime)  // a clear error before anything is printed
        if (!model->vocab().contains(ch))
            throw argument_error("--prime: character " + nn::describe_char(ch) + " is not in the vocabulary of '" + c.load +
                                 "' (" + std::to_string(model->vocab().size()) + " characters)");
    // Under mpirun every rank draws its own sample, rank r with nn::rank_seed(--seed, r) (rank 0: --seed
    // itself, the plain run's sample); rank 0 prints them in rank order, each after a header line.
    auto& comm = dist::world();
    if (c.length > 0 || !c.prime.empty()) {  // --length 0 --eval FILE prints only the evaluation
        const std::uint64_t seed = nn::rank_seed(c.seed, comm.rank());
        const std::string text = c.prime + nn::sample(*model, c.prime, c.length, c.temperature, seed) + "\n";
        const auto all = comm.gather(text);
        for (std::size_t r = 0; r < all.size(); ++r) {
            if (all.size() > 1) std::cout << "--- rank " << r << ", seed " << nn::rank_seed(c.seed, int(r)) << " ---\n";
            std::cout << all[r];
        }
    }
    if (!comm.is_root()) return 0;
    if (!c.eval.empty()) {
        const std::string text = nn::read_corpus({c.eval});
        std::size_t dropped = 0;
        const auto ids = model->vocab().encode(text, &dropped);
        if (ids.size() < 2) throw argument_error("'" + c.eval + "' has fewer than 2 characters of the model's vocabulary");
        std::cout << "bits per character: " << fixed(nn::bits_per_char(*model, ids), 4) << " (held-out: " << c.eval << ", "
                  << ids.size() << " characters";
        if (dropped) std::cout << "; " << dropped << " outside the vocabulary skipped";
        std::cout << ")\n";
    }
    return 0;
}

}  // namespace

command add_generate(CLI::App& app) {
    auto* sub = app.add_subcommand(
        "generate",
        "Character-level LSTM/GRU language model: train on text (--train) or sample from a checkpoint (--load)");
    auto c = std::make_shared<generate_config>();
    sub->footer(
        "Modes:\n"
        "  xgrad generate --train [FILE...]      train, print held-out bits per character, save --save\n"
        "                                        (no FILE: every docs/*.md of " XGRAD_SOURCE_DIR ")\n"
        "  xgrad generate --load charlm.npz      print --length sampled characters after --prime\n"
        "With neither, prints this usage and exits with status 2. See docs/generate.md.");
    auto* train = sub->add_option("--train", c->train_files,
                                  "Train on these text files (none: the docs/*.md of the source tree); the last 10% is held out")
                      ->expected(0, -1)
                      ->check(CLI::ExistingFile);
    auto* load = sub->add_option("--load", c->load, "Sample from this checkpoint (written by --train)")->excludes(train);
    train->excludes(load);
    // model and training (--train)
    auto* tg = sub->add_option_group("Training (with --train)");
    std::vector<CLI::Option*> training{
        tg->add_option("--cell", c->model.cell, "Recurrent cell")->check(CLI::IsMember({"lstm", "gru"}))->capture_default_str(),
        whole(*tg, "--hidden", c->model.hidden, "Hidden size", 1, 4096),
        whole(*tg, "--embed", c->model.embed, "Embedding size", 1, 4096),
        whole(*tg, "--seq", c->train.seq, "BPTT chunk length (characters per step and stream)", 1, 100000),
        whole(*tg, "--batch", c->train.batch, "Parallel streams per step", 1, 100000),
        whole(*tg, "--steps", c->train.steps, "Optimizer (Adam) steps", 1, 100000000),
        real(*tg, "--lr", c->train.lr, "Adam learning rate", 0, 1000, /*low_open=*/true),
        real(*tg, "--clip", c->train.clip, "Clip the global gradient norm to this (0: off)", 0, 1e12),
        whole(*tg, "--eval-every", c->train.eval_every, "Held-out evaluation every N steps (0: steps/10)", 0, 100000000),
        whole(*tg, "--max-corpus-mb", c->max_corpus_mb, "Refuse a corpus larger than this many MiB", 1, 65536),
        tg->add_flag("--detect-anomaly", c->anomaly, "Anomaly mode: stop at the first op whose value or gradient is NaN/inf"),
        tg->add_option("--save", c->save, "Checkpoint to write after training")->capture_default_str()};
    for (auto* o : training) o->needs(train)->excludes(load);
    // sampling (--load)
    auto* sg = sub->add_option_group("Sampling (with --load)");
    std::vector<CLI::Option*> sampling{
        sg->add_option("--prime", c->prime, "Text the model reads first (printed before the sample; empty: a newline)"),
        whole(*sg, "--length", c->length, "Characters to generate", 0, 100000000),
        real(*sg, "--temperature", c->temperature, "Sampling temperature: softmax(logits / T); 0 = greedy", 0, 1e6),
        sg->add_option("--eval", c->eval, "Also print the bits per character of the model on this text file"),
        sg->add_flag("--allow-nonfinite", c->allow_nonfinite,
                     "Load a checkpoint whose weights hold NaN or infinity (inspecting a diverged run); refused otherwise")};
    for (auto* o : sampling) o->needs(load)->excludes(train);
    seed(*sub, c->seed, "Seed of initialisation (--train) or sampling (--load; under mpirun rank r samples with nn::rank_seed(seed, r))");
    sub->add_flag("--quiet,-q", c->quiet, "--train: print only the final bits-per-character line");
    return [c, sub, train, load] {
        if (train->count() > 0) return run_train_mode(*c);
        if (load->count() > 0) return run_sample_mode(*c);
        std::cerr << "xgrad generate: nothing to do: give --train [FILE...] to train a model or --load MODEL.npz to "
                     "sample from one\n\n"
                  << sub->help();
        return 2;
    };
}

}  // namespace xgrad::cli
