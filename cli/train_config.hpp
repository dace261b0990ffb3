#pragma once
// `xgrad train`'s settings; the defaults are the tutorial's experiment.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <xgrad/xgrad.hpp>

namespace xgrad::cli {

struct train_config {
    nn::sequence_regressor_options model;
    nn::fit_options fit;
    std::size_t steps = 10;
    std::size_t samples = 1000;
    std::size_t test_samples = 100;
    std::string dtype = "float32";
    std::uint64_t seed = 0;
    std::string save, load, log;
    // --bias-layout keras|pytorch; empty (not given): keras, or with --load the checkpoint's layout.
    std::string bias_layout;
    std::vector<std::string> freeze;
    bool quiet = false;
    // Your own data (cli/train_data.cpp): with `data` set, the tutorial's task and --steps/--samples are unused.
    std::string data, test_data, task = "regress";
    double test_split = 0, val_split = 0;
    std::size_t patience = 0, window = 0, features = 1;
    bool baselines = false;
    bool anomaly = false;  // --detect-anomaly: stop at the first op that makes a NaN/inf
    bool allow_nonfinite = false;  // --allow-nonfinite: --load accepts NaN/inf weights (forensics)
};

// "train.epochs": the metadata key of the epochs a checkpoint's weights have been trained.
inline constexpr const char* epochs_key = "train.epochs";

// "train.dropout_calls": the training calls whose dropout masks the cell has drawn (a checkpoint of a
// model with --dropout), so that a resumed run draws the masks one longer run would (--load).
inline constexpr const char* dropout_calls_key = "train.dropout_calls";

// --load for a resumed run (cli/train.cpp): the weights, `opt`'s own state (another optimizer's is
// not loaded, with a note) and the epochs the checkpoint records, which it returns (0 without).
std::size_t load_for_resume(const train_config& c, nn::module& model, nn::optimizer& opt);
// With --load: continue the checkpoint's dropout stream (meta.train.dropout_calls; absent: from call 0).
void resume_dropout(const train_config& c, nn::sequence_regressor& model);
// The metadata that records the cell's dropout calls (empty when the model has no dropout).
nn::named_tensors dropout_metadata(const nn::sequence_regressor& model);

// The --data family of options (cli/train_data.cpp), and the run they select.
void add_data_options(CLI::App& sub, train_config& c);
int run_train_data(const train_config& c);

// Registers every option of `xgrad train` on `sub`, bound to `c` (testable without running).
void add_train_options(CLI::App& sub, train_config& c);
int run_train(const train_config& c);

}  // namespace xgrad::cli
