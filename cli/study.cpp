// `xgrad study`: the vanishing-gradient and activation comparison around the tutorial (see
// study_core.hpp and docs/study.md); `xgrad study --explode`: exploding gradients and clipping
// (study_explode.hpp).
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <unistd.h>

#include "commands.hpp"
#include "study_core.hpp"
#include "study_explode.hpp"
#include "study_terms.hpp"

namespace xgrad::cli {

namespace {

struct study_cli {
    study_options o;
    std::string activations = "sigmoid,tanh,relu";
    std::string cells;
    std::string lengths = "10,50";
    std::string seeds = "5";
    std::string bias_layout = "keras";
    std::string out = "study";
    bool dot = false;
    bool quiet = false;
    bool flush_denormals = false;
    // --explode and the options only it reads; options shared with the default study are taken from
    // the command line only when given (the explode preset has its own defaults).
    bool explode = false;
    explode_options e;
    std::string clips = "none,norm,value";
    std::map<std::string, CLI::Option*> given;
    bool was_given(const std::string& name) const { return given.at(name)->count() > 0; }
};

std::vector<std::string> split(const std::string& s, const char* what) {
    std::vector<std::string> out;
    if (!s.empty() && s.back() == ',')
        throw argument_error(std::string("study: ") + what + " '" + s + "' ends in a comma; remove it");
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, ',');) {
        if (item.empty())
            throw argument_error(std::string("study: ") + what + " '" + s + "' has an empty item; separate names with single commas");
        out.push_back(item);
    }
    return out;
}

// The output folder exists and is writable, checked before training rather than after.
std::filesystem::path output_dir(const std::string& out) {
    const std::filesystem::path dir = out;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir) || ::access(dir.c_str(), W_OK) != 0)
        throw argument_error("study: cannot write to the output folder '" + out + "'" +
                             (ec ? " (" + ec.message() + ")" : std::string()) + "; choose another with --out");
    return dir;
}

std::vector<std::size_t> parse_lengths(const std::string& text) {
    std::vector<std::size_t> out;
    for (const auto& item : split(text, "--lengths")) {
        if (item.find_first_not_of("0123456789") != std::string::npos || item.size() > 6)
            throw argument_error("study: --lengths item '" + item + "' is not a whole number of time steps (1..999999)");
        out.push_back(std::stoul(item));
    }
    return out;
}

int run_explode_command(study_cli& c) {
    for (const char* name : {"--cells", "--target", "--dot", "--bias-layout"})
        if (c.was_given(name))
            throw argument_error(std::string("study: ") + name + " is not an option of --explode; remove it");
    auto& e = c.e;
    if (c.was_given("--activations")) e.activations = split(c.activations, "--activations");
    if (c.was_given("--lengths")) e.lengths = parse_lengths(c.lengths);
    if (c.was_given("--seeds")) e.seeds = parse_seeds(c.seeds);
    if (c.was_given("--epochs")) e.epochs = c.o.epochs;
    if (c.was_given("--samples")) e.samples = c.o.samples;
    if (c.was_given("--hidden")) e.hidden = c.o.hidden;
    e.clips = split(c.clips, "--clips");
    check_explode_options(e);
    const auto dir = output_dir(c.was_given("--out") ? c.out : std::string("study-explode"));
    if (c.flush_denormals) set_flush_denormal(true);
    if (!c.quiet)
        std::cout << "xgrad study --explode: " << e.activations.size() * e.lengths.size() * e.seeds.size() * e.clips.size()
                  << " runs (rnn + linear head, W_hh " << e.recurrent_init << " with spectral radius " << e.radius << ", "
                  << e.optimizer << " lr " << e.lr << ", MSE, " << e.epochs << " epochs, " << e.samples
                  << " samples, hidden " << e.hidden << ")\n"
                  << std::flush;
    const auto r = run_explode(e, c.quiet ? nullptr : &std::cout);
    if (!c.quiet) std::cout << "\n";
    std::cout << explode_table(r);
    write_explode_csvs(r, dir);
    std::cout << "\nstudy: wrote " << (dir / "summary.csv").string() << ", " << (dir / "steps.csv").string() << ", "
              << (dir / "hgrad_init.csv").string() << " (" << std::fixed << std::setprecision(1) << r.seconds
              << std::defaultfloat << " s of training)\n";
    std::cout << write_explode_plots(r, dir) << "\n";
    return 0;
}

int run_study_command(study_cli& c) {
    if (c.explode) return run_explode_command(c);
    for (const char* name : {"--clips", "--radius", "--recurrent-init", "--lr", "--optimizer", "--clip-norm", "--clip-value"})
        if (c.was_given(name))
            throw argument_error(std::string("study: ") + name + " belongs to --explode; add --explode or remove it");
    c.o.activations = split(c.activations, "--activations");
    c.o.cells = split(c.cells, "--cells");
    c.o.lengths = parse_lengths(c.lengths);
    c.o.seeds = parse_seeds(c.seeds);
    c.o.biases = c.bias_layout == "pytorch" ? nn::bias_layout::pytorch : nn::bias_layout::keras;
    check_study_options(c.o);
    const auto dir = output_dir(c.out);

    if (c.flush_denormals) set_flush_denormal(true);
    const bool tty = !c.quiet && isatty(fileno(stdout));
    if (!c.quiet)
        std::cout << "xgrad study: " << (c.o.activations.size() + c.o.cells.size()) * c.o.lengths.size() * c.o.seeds.size()
                  << " models (rnn + linear head, Adam " << c.o.lr << ", MSE, " << c.o.epochs << " epochs, "
                  << c.o.samples << " samples, hidden " << c.o.hidden << ")\n"
                  << std::flush;
    const auto r = run_study(c.o, c.quiet ? nullptr : &std::cout, tty);
    if (!c.quiet) std::cout << "\n";
    std::cout << summary_table(r);
    write_study_csvs(r, dir);
    std::cout << "\nstudy: wrote " << (dir / "summary.csv").string() << ", " << (dir / "gradnorms.csv").string() << ", "
              << (dir / "curves.csv").string() << " (" << std::fixed << std::setprecision(1) << r.seconds
              << std::defaultfloat << " s of training)\n";
    std::cout << write_study_plots(r, dir) << "\n";
    std::cout << write_study_terms(c.o, dir) << "\n";
    if (c.dot)
        for (const auto& line : write_study_graphs(c.o, dir)) std::cout << line << "\n";
    return 0;
}

}  // namespace

command add_study(CLI::App& app) {
    auto c = std::make_shared<study_cli>();
    auto* sub = app.add_subcommand(
        "study", "Compare activations (and cells) on the tutorial's task: losses, epochs to a target, vanishing gradients");
    auto& g = c->given;
    g["--activations"] = sub->add_option("--activations", c->activations,
                                         "RNN activations to compare, comma-separated (--explode: relu,tanh)")
                             ->capture_default_str();
    g["--cells"] = sub->add_option("--cells", c->cells, "Also train these cells, comma-separated (lstm, gru)");
    g["--lengths"] = sub->add_option("--lengths", c->lengths, "Sequence lengths T, comma-separated (--explode: 50,100)")
                         ->capture_default_str();
    g["--seeds"] = sub->add_option("--seeds", c->seeds, "Seeds: a count (3 = 0,1,2), a list (4,7) or a range (5..8) (--explode: 3)")
                       ->capture_default_str();
    g["--epochs"] = sub->add_option("--epochs", c->o.epochs, "Epochs per model (--explode: 20)")
                        ->check(CLI::Range(1, 100000))
                        ->capture_default_str();
    g["--samples"] = sub->add_option("--samples", c->o.samples, "Training samples (the test set has a tenth, at least 16) (--explode: 512)")
                         ->check(CLI::Range(1, 10000000))
                         ->capture_default_str();
    g["--hidden"] = sub->add_option("--hidden", c->o.hidden, "Hidden size (--explode: 32)")
                        ->check(CLI::Range(1, 4096))
                        ->capture_default_str();
    g["--target"] = sub->add_option("--target", c->o.target, "Test loss that counts as reached")
                        ->check(CLI::PositiveNumber)
                        ->capture_default_str();
    g["--bias-layout"] = sub->add_option("--bias-layout", c->bias_layout,
                                         "keras: rnn and lstm with Keras's single bias; pytorch: bias_ih and bias_hh "
                                         "(gru has two in both)")
                             ->check(CLI::IsMember({"keras", "pytorch"}))
                             ->capture_default_str();
    g["--out"] = sub->add_option("--out", c->out, "Folder for the CSVs, plots and pictures (--explode: study-explode)")
                     ->capture_default_str();
    g["--dot"] = sub->add_flag("--dot", c->dot, "Also draw each model's unrolled network (T=8) coloured by gradient norm");
    sub->add_flag("--explode", c->explode,
                  "Exploding gradients instead: rnn cells with W_hh of spectral radius > 1, trained without and with "
                  "gradient clipping (see docs/study.md)");
    g["--clips"] = sub->add_option("--clips", c->clips, "--explode: clipping modes, comma-separated (none, norm, value)")
                       ->capture_default_str();
    g["--radius"] = sub->add_option("--radius", c->e.radius, "--explode: spectral radius of W_hh at initialisation")
                        ->capture_default_str();
    g["--recurrent-init"] = sub->add_option("--recurrent-init", c->e.recurrent_init,
                                            "--explode: W_hh before scaling: orthogonal, or normal (scaled by its "
                                            "spectral radius from power iteration)")
                                ->capture_default_str();
    g["--optimizer"] = sub->add_option("--optimizer", c->e.optimizer, "--explode: sgd, adam, adamw or rmsprop (Keras' defaults)")
                           ->capture_default_str();
    g["--lr"] = sub->add_option("--lr", c->e.lr, "--explode: learning rate")->capture_default_str();
    g["--clip-norm"] = sub->add_option("--clip-norm", c->e.clip_norm, "--explode: max global gradient norm of clip 'norm'")
                           ->capture_default_str();
    g["--clip-value"] = sub->add_option("--clip-value", c->e.clip_value, "--explode: bound of clip 'value' (each element into [-v, v])")
                            ->capture_default_str();
    sub->add_flag("--quiet,-q", c->quiet, "Print only the summary");
    sub->add_flag("--flush-denormals", c->flush_denormals,
                  "Flush denormal floats to zero (faster when gradients vanish; tiny norms then read 0)");
    return [c] { return run_study_command(*c); };
}

}  // namespace xgrad::cli
