// `xgrad study`: the vanishing-gradient and activation comparison around the tutorial (see
// study_core.hpp and docs/study.md).
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include <unistd.h>

#include "commands.hpp"
#include "study_core.hpp"
#include "study_terms.hpp"

namespace xgrad::cli {

namespace {

struct study_cli {
    study_options o;
    std::string activations = "sigmoid,tanh,relu";
    std::string cells;
    std::string lengths = "10,50";
    std::string seeds = "5";
    std::string out = "study";
    bool dot = false;
    bool quiet = false;
    bool flush_denormals = false;
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

int run_study_command(study_cli& c) {
    c.o.activations = split(c.activations, "--activations");
    c.o.cells = split(c.cells, "--cells");
    c.o.lengths.clear();
    for (const auto& item : split(c.lengths, "--lengths")) {
        if (item.find_first_not_of("0123456789") != std::string::npos || item.size() > 6)
            throw argument_error("study: --lengths item '" + item + "' is not a whole number of time steps (1..999999)");
        c.o.lengths.push_back(std::stoul(item));
    }
    c.o.seeds = parse_seeds(c.seeds);
    check_study_options(c.o);
    // Fail on an unwritable --out before training, not after.
    const std::filesystem::path dir = c.out;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir) || ::access(dir.c_str(), W_OK) != 0)
        throw argument_error("study: cannot write to the output folder '" + c.out + "'" +
                             (ec ? " (" + ec.message() + ")" : std::string()) + "; choose another with --out");

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
    sub->add_option("--activations", c->activations, "RNN activations to compare, comma-separated")->capture_default_str();
    sub->add_option("--cells", c->cells, "Also train these cells, comma-separated (lstm, gru)");
    sub->add_option("--lengths", c->lengths, "Sequence lengths T, comma-separated")->capture_default_str();
    sub->add_option("--seeds", c->seeds, "Seeds: a count (3 = 0,1,2), a list (4,7) or a range (5..8)")->capture_default_str();
    sub->add_option("--epochs", c->o.epochs, "Epochs per model")->check(CLI::Range(1, 100000))->capture_default_str();
    sub->add_option("--samples", c->o.samples, "Training samples (the test set has a tenth, at least 16)")
        ->check(CLI::Range(1, 10000000))
        ->capture_default_str();
    sub->add_option("--hidden", c->o.hidden, "Hidden size")->check(CLI::Range(1, 4096))->capture_default_str();
    sub->add_option("--target", c->o.target, "Test loss that counts as reached")->check(CLI::PositiveNumber)->capture_default_str();
    sub->add_option("--out", c->out, "Folder for the CSVs, plots and pictures")->capture_default_str();
    sub->add_flag("--dot", c->dot, "Also draw each model's unrolled network (T=8) coloured by gradient norm");
    sub->add_flag("--quiet,-q", c->quiet, "Print only the summary");
    sub->add_flag("--flush-denormals", c->flush_denormals,
                  "Flush denormal floats to zero (faster when gradients vanish; tiny norms then read 0)");
    return [c] { return run_study_command(*c); };
}

}  // namespace xgrad::cli
