#pragma once
// `xgrad study`'s engine: the tutorial's experiment (sum of a random sequence, recurrent cell + linear
// head, Adam, MSE; nn/fit.hpp) over activations, cells, sequence lengths and seeds, with the per-step
// gradient norm ‖∂L/∂h_t‖ (nn::step_grad_norms) measured on one fixed batch at initialisation and after
// training; then the tables, CSVs, plots and pictures of the results.
//
//   study_options o;  o.lengths = {5};  o.seeds = {0};  o.epochs = 2;
//   study_result r = run_study(o);                   // trains every (activation|cell) × T × seed
//   std::cout << summary_table(r);                   // mean ± sd over seeds
//   write_study_csvs(r, "study");                    // summary.csv, gradnorms.csv, curves.csv
//   std::cout << write_study_plots(r, "study");      // gnuplot script (+ SVG/PNG when gnuplot is on PATH)
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace xgrad::cli {

struct study_options {
    std::vector<std::string> activations{"sigmoid", "tanh", "relu"};  // rnn cells, one per activation
    std::vector<std::string> cells;                                  // extra cells: lstm, gru
    std::vector<std::size_t> lengths{10, 50};
    std::vector<std::uint64_t> seeds{0, 1, 2, 3, 4};
    std::size_t epochs = 20;
    std::size_t samples = 1000;       // training samples; the test set has samples / 10 (at least 16)
    std::size_t hidden = 50;
    std::size_t batch_size = 32;
    double lr = 1e-3;
    double target = 0.05;             // test MSE counted as "reached"
    std::size_t grad_batch = 32;      // rows of the fixed batch ‖∂L/∂h_t‖ is measured on
    // Keras's model (`xgrad train`'s default): rnn and lstm with one bias; gru has two in both layouts.
    nn::bias_layout biases = nn::bias_layout::keras;
};

// One model trained: a (cell, activation) at one length and seed.
struct study_run {
    std::string cell, activation;    // activation is "-" for lstm and gru
    std::size_t steps = 0;           // T
    std::uint64_t seed = 0;
    double train_loss = 0;           // MSE on the whole training set after training
    double test_loss = 0;            // MSE on the test set after training
    std::size_t epochs_to_target = 0;  // first epoch whose test loss <= target; 0: never
    std::vector<double> test_curve;  // test loss after each epoch
    std::vector<double> grad_init;   // ‖∂L/∂h_t‖, t = 1..T, before training
    std::vector<double> grad_trained;  // the same after training
    double seconds = 0;
};

struct study_result {
    study_options options;
    std::vector<study_run> runs;     // in the order: (activation, then cell) × length × seed
    double seconds = 0;
};

// A label for a model: "rnn/tanh", "lstm", "gru".
std::string study_label(const study_run& r);

// Throws argument_error (naming the option and the value) on an unknown activation or cell, an empty
// list, a zero length, epoch count, sample count or hidden size, or a target that is not positive.
void check_study_options(const study_options& o);

// --seeds: "3" is a count (seeds 0, 1, 2), "4,7,9" a list, "5..8" a range. Throws argument_error.
std::vector<std::uint64_t> parse_seeds(const std::string& text);

// Trains every model. `progress` (may be null) gets one line per model; `tty` adds a live epoch counter.
study_result run_study(const study_options& o, std::ostream* progress = nullptr, bool tty = false);

// The readable table: one row per (label, T), mean ± sd over seeds.
std::string summary_table(const study_result& r);

// Writes summary.csv (one row per run), gradnorms.csv (label means over seeds: activation,cell,T,when,t,norm)
// and curves.csv (activation,cell,T,seed,epoch,test_loss) into dir (created). Throws argument_error
// when dir cannot be created or written.
void write_study_csvs(const study_result& r, const std::filesystem::path& dir);

// Full path of gnuplot on PATH, or empty.
std::filesystem::path find_gnuplot();

// Writes dir/plots.gp and, when gnuplot is on PATH, runs it in dir (no shell): loss_T<T>.svg and
// gradnorms_T<T>.svg (plus .png when gnuplot has the pngcairo terminal). Returns one line for the user.
std::string write_study_plots(const study_result& r, const std::filesystem::path& dir);

// --dot: the unrolled network of each label at initialisation (T = steps, batch 2), coloured by
// gradient norm, as dir/unrolled_<label>.svg (or .dot without Graphviz). Returns one line per picture.
std::vector<std::string> write_study_graphs(const study_options& o, const std::filesystem::path& dir,
                                            std::size_t steps = 8);

}  // namespace xgrad::cli
