#pragma once
// `xgrad study --explode`: exploding gradients and the clipping that tames them. The tutorial's task
// (nn::sum_task) with rnn cells whose recurrent weight W_hh starts with spectral radius ρ > 1, trained
// once without clipping, once with clip-by-norm and once with clip-by-value (nn/clip.hpp). Every
// training step records the loss, the global gradient norm before clipping and whether clipping
// changed the gradient; a run whose loss or gradient norm becomes non-finite stops there, marked
// diverged. ‖∂L/∂h_t‖ against t at initialisation (nn::step_grad_norms) shows the growth backwards in
// time that ρ > 1 causes.
//
//   explode_options o;  o.lengths = {20};  o.epochs = 1;
//   explode_result r = run_explode(o);              // (activation × T × seed) × clip
//   std::cout << explode_table(r);
//   write_explode_csvs(r, "study-explode");         // summary.csv, steps.csv, hgrad_init.csv
//   std::cout << write_explode_plots(r, "study-explode");
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace xgrad::cli {

struct explode_options {
    std::vector<std::string> activations{"relu", "tanh"};
    std::vector<std::size_t> lengths{50, 100};
    std::vector<std::uint64_t> seeds{0, 1, 2};
    std::vector<std::string> clips{"none", "norm", "value"};
    std::string recurrent_init = "orthogonal";  // W_hh: orthogonal · ρ, or normal (N(0,1) / its ρ) · ρ
    double radius = 1.5;                        // ρ, W_hh's spectral radius at initialisation
    std::size_t epochs = 20;
    std::size_t samples = 512;                  // training samples; the test set has samples / 10 (at least 16)
    std::size_t hidden = 32;
    std::size_t batch_size = 32;
    std::string optimizer = "sgd";              // a make_optimizer name
    double lr = 0.1;
    double clip_norm = 1.0;                     // clip "norm": nn::clip_grad_norm(params, clip_norm)
    double clip_value = 0.1;                    // clip "value": nn::clip_grad_value(params, clip_value)
    std::size_t grad_batch = 32;                // rows of the fixed batch ‖∂L/∂h_t‖ is measured on
};

// One training step of a run.
struct explode_step {
    std::size_t step = 0;   // 1-based, over all epochs
    std::size_t epoch = 0;  // 1-based
    double loss = 0;        // the batch's MSE before the update
    double grad_norm = 0;   // global L2 norm of every gradient before clipping (NaN when the loss was not finite)
    bool clipped = false;   // norm: the norm exceeded clip_norm; value: an element exceeded clip_value
};

struct explode_run {
    std::string activation;
    std::size_t steps = 0;        // T
    std::string clip;             // none | norm | value
    std::uint64_t seed = 0;
    double radius = 0;            // W_hh's spectral radius at initialisation, by power iteration
    double train_loss = 0;        // MSE on the training set after training (or when it stopped)
    double test_loss = 0;         // the same on the test set
    double max_grad_norm = 0;     // largest pre-clip norm over the steps (a NaN norm counts as +inf)
    double clipped_fraction = 0;  // steps clipped / steps run
    bool diverged = false;        // stopped at trace.back() on a non-finite loss or gradient norm
    std::vector<explode_step> trace;
    std::vector<double> grad_init;  // ‖∂L/∂h_t‖, t = 1..T, at initialisation
    double seconds = 0;
};

struct explode_result {
    explode_options options;
    std::vector<explode_run> runs;  // activation × length × seed × clip, in that order
    double seconds = 0;
};

// Throws argument_error naming the option on an unknown activation, clip, initialiser or optimizer,
// an empty list, a zero length, count or size, or a radius, learning rate or clip bound out of range.
void check_explode_options(const explode_options& o);

// The spectral radius max |λ| of a square matrix by power iteration: the geometric mean of the growth
// ‖A x_k‖ / ‖x_k‖ over `iterations` steps after as many warm-up steps (exact for a scaled orthogonal
// matrix; for a general one the error falls as 1/iterations). Throws argument_error if not square.
double spectral_radius(const tensor& a, std::size_t iterations = 1000);

// Trains every run. `progress` (may be null) gets one line per run.
explode_result run_explode(const explode_options& o, std::ostream* progress = nullptr);

// The readable table: one row per run, and per setting the ratio of its unclipped max norm to each twin's.
std::string explode_table(const explode_result& r);

// Writes into dir (created): summary.csv (model,T,clip,seed,radius,train_loss,test_loss,max_grad_norm,
// clipped_fraction,diverged,steps_run), steps.csv (model,T,clip,seed,step,epoch,loss,grad_norm,clipped)
// and hgrad_init.csv (model,T,seed,t,norm). Non-finite numbers are written inf, -inf or nan. Each file
// is written to a temporary and renamed over the old one; throws argument_error on failure.
void write_explode_csvs(const explode_result& r, const std::filesystem::path& dir);

// Writes dir/explode.gp and, when gnuplot is on PATH, runs it in dir: gradnorm_steps_T<T>.svg (pre-clip
// norm per step, log scale, every clip; first seed), loss_steps_T<T>.svg (first seed) and hgrad_init_T<T>.svg
// (‖∂L/∂h_t‖ vs t, every seed).
// Returns one line for the user.
std::string write_explode_plots(const explode_result& r, const std::filesystem::path& dir);

}  // namespace xgrad::cli
