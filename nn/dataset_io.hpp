#pragma once
// Data files for `xgrad train --data` / `xgrad predict`: sequences with targets read from an .npz or a
// CSV, checked cell by cell, and cut into train / validation / test parts in file order.
//
//   auto d = nn::read_dataset("train.csv", {.task = nn::task_kind::classify, .features = 8});
//   auto [train, test] = nn::split_tail(d, 0.2, "--test-split");   // the last 20 % of the samples
//
// Layouts (docs/cli.md, "Your own data"):
//   .npz   X [N, T, F] (or [N, T]: F = 1), y [N] or [N, K] (regress) / [N] class indices (classify),
//          optional lengths [N] (1 <= lengths[i] <= T). float32/float64 arrays.
//   CSV rows (window = 0): one sample per line, T·F inputs (step 0's F features, then step 1's, ...)
//          then one target (a value, or a class index); T = inputs / features.
//   CSV series (window = W > 0): one time step per line, one column per series (F columns); sample i
//          is lines i .. i+W-1 and its target the next line (all columns): N = lines - W.
//   A CSV's first line is a header when none of its cells is a number; blank lines are skipped.
// Every problem throws data_error naming the file and the line and cell, or the array and index.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "../graph/errors.hpp"
#include "../graph/tensor.hpp"

namespace xgrad::nn {

struct data_error : error {
    using error::error;
};

enum class task_kind { regress, classify };
const char* task_name(task_kind t);  // "regress" | "classify"

struct labelled_data {
    tensor x;                          // [N, T, F]
    tensor y;                          // regress [N, K]; classify [N] class indices; undefined: no targets
    std::vector<std::size_t> lengths;  // from the file's `lengths`; empty: every sample has T steps
    std::size_t size() const { return x.defined() ? x.shape()[0] : 0; }
};

struct data_read_options {
    task_kind task = task_kind::regress;
    std::size_t features = 1;    // CSV rows: features per time step
    std::size_t window = 0;      // > 0: CSV series layout with windows of this many steps
    // Prediction: the file may lack targets. CSV rows: a line of exactly `row_inputs` cells has none
    // (row_inputs + 1: the last is a target); CSV series: every window, the last one included
    // (N = lines - W + 1), has no target; .npz: y is optional.
    bool targets_optional = false;
    std::size_t row_inputs = 0;  // CSV rows with targets_optional: T·F
    dtype dt = dtype::float32;
};

labelled_data read_csv_dataset(const std::string& path, const data_read_options& options = {});
labelled_data read_npz_dataset(const std::string& path, const data_read_options& options = {});
// By extension: ".npz" -> read_npz_dataset, anything else -> read_csv_dataset.
labelled_data read_dataset(const std::string& path, const data_read_options& options = {});

inline constexpr std::size_t max_classes = 65536;

// Classification targets: every y an integer in [0, classes) (classes = 0: [0, max_classes)); returns
// the number of classes (classes, or the largest label + 1). `where` names the data in messages.
std::size_t check_labels(const labelled_data& d, const std::string& where, std::size_t classes = 0);

// Checks d.lengths: empty, or one per sample with 1 <= lengths[i] <= T (read_npz_dataset already
// guarantees it for a file; this guards data assembled in code). Shorter samples are masked by the
// recurrent layers (nn/recurrent.hpp, "Variable-length batches"). Throws data_error naming `where`.
void check_lengths(const labelled_data& d, const std::string& where);

// (head, tail): tail = the last N - floor(N·(1 - fraction)) samples in file order (Keras'
// validation_split), head the rest. Throws data_error naming `what` unless both parts are non-empty
// and 0 < fraction < 1.
std::pair<labelled_data, labelled_data> split_tail(const labelled_data& d, double fraction, const std::string& what);

// The data as an .npz (X, y when defined, lengths when present), written atomically (save_npz).
void write_npz_dataset(const std::string& path, const labelled_data& d);

// `text` into `path` atomically, as checkpoints are written (nn/npz.hpp): a temporary file in the same
// directory, flushed, renamed over the target; a failure throws checkpoint_io_error naming `what` wrote
// the file, and leaves a previous file unchanged.
void write_text_file(const std::string& path, const std::string& text, const std::string& what = "text file");

}  // namespace xgrad::nn
