#pragma once
// Checkpoints: a module's parameters (and optionally an optimizer's state) in one .npz file.
//
// Keys: each parameter under its module::named_parameters() name ("rnn.weight_hh_l0"), the names
// PyTorch's state_dict uses, so `np.load(path)["rnn.weight_hh_l0"]` works and an .npz exported from a
// PyTorch state_dict loads unchanged. Optimizer state goes under the prefix "optim/" followed by
// optimizer::state()'s names: "optim/adam.step", "optim/adam.m.rnn.weight_hh_l0", ...
// Arrays keep their dtype (float32 or float64); a round trip is bit-exact.
//
// Saving is atomic (see npz.hpp): a failed or interrupted save never damages the previous file.
//
// Loading checks every name, shape and dtype from the arrays' .npy headers before inflating any data
// (npz_reader): an array that does not fit, or that the model does not use, is never inflated, so a
// load never allocates more than the model (and optimizer) being loaded hold. Then the data of what
// fits is read and checked: no NaN or infinity in a parameter (load_options::allow_nonfinite), and
// the optimizer state must pass optimizer::check_state. Only then is anything assigned.
// A strict load (the default)
// throws checkpoint_mismatch_error listing, in one message, every missing, unexpected, wrong-shape and
// wrong-dtype name, and changes nothing. A non-strict load assigns what fits and returns a report of
// what it skipped (fine-tuning with a new head). Optimizer state is only read when an optimizer is
// given; it is then loaded per parameter (a parameter's buffers all fit, or none is loaded).
//
// Metadata: arrays under the prefix "meta." ("meta.vocab", "meta.hidden") describe the model (a
// vocabulary, hyper-parameters) so a program can rebuild it before loading. save_options::metadata
// writes them (each name gets the prefix); read_metadata() returns them (prefix removed) without a
// model; load_checkpoint never counts them as unexpected and lists them in load_report::metadata.
#include <string>
#include <vector>

#include "module.hpp"
#include "npz.hpp"
#include "optim.hpp"

namespace xgrad::nn {

inline constexpr const char* optimizer_prefix = "optim/";
inline constexpr const char* metadata_prefix = "meta.";

struct load_report {
    std::vector<std::string> loaded;       // names assigned (optimizer state with its "optim/" prefix)
    std::vector<std::string> missing;      // expected by the model/optimizer, absent from the file
    std::vector<std::string> unexpected;   // in the file, unknown to the model/optimizer
    std::vector<std::string> wrong_shape;  // "name: file [3, 4], model [3, 5]"
    std::vector<std::string> wrong_dtype;  // "name: file float64, model float32"
    std::vector<std::string> bad_value;    // right shape and dtype, impossible value: "name: holds nan, expected ..."
    std::vector<std::string> ignored;      // optimizer state in the file while no optimizer was given
    std::vector<std::string> metadata;     // "meta.*" arrays in the file (never loaded into the model)
    bool complete() const {
        return missing.empty() && unexpected.empty() && wrong_shape.empty() && wrong_dtype.empty() && bad_value.empty();
    }
    // The problems, one group per line ("missing (2): a, b"); empty when complete().
    std::string str() const;
};

// A strict load found names, shapes or dtypes that do not fit; nothing was changed.
struct checkpoint_mismatch_error : checkpoint_error {
    checkpoint_mismatch_error(const std::string& msg, load_report r) : checkpoint_error(msg), report(std::move(r)) {}
    load_report report;
};

struct save_options {
    bool compress = false;  // deflate (numpy.savez_compressed); the default stores (numpy.savez)
    named_tensors metadata;  // extra arrays, each saved as "meta." + name (float32/float64 tensors)
};

struct load_options {
    bool strict = true;
    // Load parameters holding NaN or infinite values (forensics of a diverged run). Without it such a
    // parameter is refused with checkpoint_nonfinite_error; optimizer state is always checked.
    bool allow_nonfinite = false;
};

// A parameter in the file holds NaN or an infinity (the message names the file, the array and the
// first such element); nothing was loaded.
struct checkpoint_nonfinite_error : checkpoint_error {
    using checkpoint_error::checkpoint_error;
};

void save_checkpoint(const std::string& path, const module& m, const optimizer* opt = nullptr,
                     const save_options& options = {});

load_report load_checkpoint(const std::string& path, module& m, optimizer* opt = nullptr,
                            const load_options& options = {});
// The same from an open file (one pass over the archive when metadata was read from it first).
load_report load_checkpoint(const npz_reader& file, module& m, optimizer* opt = nullptr,
                            const load_options& options = {});

// The file's "meta.*" arrays in archive order, names without the prefix (empty when it has none).
// Throws what read_npz throws, and checkpoint_error for a metadata array that is not float32/float64.
named_tensors read_metadata(const std::string& path);
named_tensors read_metadata(const npz_reader& file);

}  // namespace xgrad::nn
