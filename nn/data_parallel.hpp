#pragma once
// data_parallel: synchronous data-parallel training over a dist::communicator (each rank holds a full
// replica and a shard of every batch; gradients are averaged, so every rank takes the same step).
//
//   nn::data_parallel dp(model, dist::world(), {.bucket_bytes = 1 << 20, .fingerprint = options_text});
//   for (batch b; loader.next(b);) {           // loader_options{.shard_rank = rank, .shard_count = size}
//       opt.zero_grad();  t.backward(loss);    // buckets' all-reduces start inside backward
//       dp.finish();                           // wait, gradients now the mean over ranks
//       clip_grad_norm(params, c);  opt.step();
//   }
//
// What it does:
// - At construction: checks that every rank has the same model (a hash of parameter names, shapes,
//   dtypes and trainability) and the same `fingerprint` (the caller's options as text, items
//   separated by white space); a mismatch throws dist_mismatch_error on every rank, naming the model
//   or the options, the first rank that differs and its first item that differs from rank 0's. Then
//   broadcasts the parameters from rank 0 (call broadcast_parameters() again after every load).
// - Trainable parameters are grouped, in reverse registration order (the order backward reaches them),
//   into buckets of at most bucket_bytes (one dtype per bucket). A gradient-complete hook
//   (parameter::add_grad_hook) marks a parameter ready; when every parameter of a bucket is ready and
//   every earlier bucket has started, a non-blocking sum-all-reduce of the bucket starts: on the
//   parameter's gradient itself for a bucket of one parameter (no copy), else on a flat buffer the
//   gradients are copied into. Buckets start in the same order on every rank (MPI requires
//   collectives in the same order), whatever order the hooks fire in.
// - finish(): starts buckets backward did not complete (a parameter without a gradient contributes
//   zeros and gets a zero gradient), waits for all, and writes gradient = sum / size back.
//   The result is exactly (Σ_r g_r) × (1/size) in the gradient's dtype, summed in MPI's order (for two
//   ranks: (g0 + g1) × 0.5, bit-identical to averaging the two half-batch gradients in one process).
// - no_sync(): while the guard lives, hooks start nothing and finish() is a no-op, so gradients
//   accumulate locally; the first synchronised backward after it averages the accumulated sum.
// Overlap: MPI's non-blocking collectives progress only inside MPI calls; each hook calls MPI_Test on
// the buckets in flight, so a bucket moves while backward computes earlier layers only as far as those
// calls drive it (with OpenMPI's shared-memory transport on one machine, small buckets complete there).
// In a recurrent network every recurrent weight is used at the first time step, which backward reaches
// last: those gradients complete together at the end of the sweep, and only the layers after the
// recurrence (heads) can overlap with it (docs/distributed.md).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../graph/errors.hpp"
#include "dist.hpp"
#include "module.hpp"

namespace xgrad::nn {

// Ranks disagree on the model or the options.
struct dist_mismatch_error : error {
    using error::error;
};

// Where a data_parallel's time goes, summed over the finish() calls that communicated (seconds of
// this rank's steady clock): packing gradients into bucket buffers and starting the all-reduces (in
// the hooks or in finish), MPI_Test calls from the hooks, waiting in finish() for the all-reduces, and
// scaling plus copying the averages back.
struct data_parallel_stats {
    std::size_t steps = 0;
    double start_s = 0, test_s = 0, wait_s = 0, unpack_s = 0;
};

// The seed of randomness that must differ between ranks (sampling, dropout masks): rank 0 keeps
// `seed` (so a one-rank run and a plain run draw the same numbers), rank r > 0 gets SplitMix64 of
// seed + r·0x9E3779B97F4A7C15 (distinct from seed and, in practice, from every other rank's).
std::uint64_t rank_seed(std::uint64_t seed, int rank);

struct data_parallel_options {
    std::size_t bucket_bytes = std::size_t(1) << 20;  // gradients per all-reduce (a parameter larger than it is one bucket)
    std::string fingerprint;                          // caller's options as text, compared across ranks
    bool broadcast_at_start = true;
};

class data_parallel {
public:
    data_parallel(const module& m, dist::communicator& comm, const data_parallel_options& options = {});
    ~data_parallel();
    data_parallel(const data_parallel&) = delete;
    data_parallel& operator=(const data_parallel&) = delete;

    // Rank `root`'s parameter values into every rank's.
    void broadcast_parameters(int root = 0);
    // Complete the gradient average (see above). Call between backward and clipping / optimizer::step.
    void finish();
    // A guard under which gradients accumulate locally (no communication).
    class no_sync_guard {
    public:
        explicit no_sync_guard(data_parallel& dp) : dp_(&dp) { ++dp_->no_sync_depth_; }
        ~no_sync_guard() { --dp_->no_sync_depth_; }
        no_sync_guard(const no_sync_guard&) = delete;
        no_sync_guard& operator=(const no_sync_guard&) = delete;

    private:
        data_parallel* dp_;
    };
    no_sync_guard no_sync() { return no_sync_guard(*this); }

    std::size_t buckets() const;
    // Parameter names of bucket i, in bucket order.
    std::vector<std::string> bucket_names(std::size_t i) const;
    // Buckets the hooks started during the backward that the last finish() completed (the rest
    // started in finish()): a measure of overlap.
    std::size_t started_in_backward() const { return last_started_in_backward_; }
    dist::communicator& comm() { return *comm_; }
    const data_parallel_stats& stats() const { return stats_; }
    void reset_stats() { stats_ = {}; }

    // Hash of the model's parameter names, shapes, dtypes and trainability (FNV-1a 64 of
    // model_description).
    static std::uint64_t model_hash(const module& m);
    // One item per parameter, "name:shape:dtype:trainable|frozen", separated by spaces.
    static std::string model_description(const module& m);

private:
    struct bucket;
    void on_ready(std::size_t param_index);
    void start(std::size_t b);
    void start_ready();
    dist::communicator* comm_;
    data_parallel_options o_;
    std::vector<parameter> params_;  // trainable, in bucket order
    std::vector<std::string> names_;
    std::vector<std::size_t> bucket_of_;
    std::vector<std::unique_ptr<bucket>> buckets_;
    std::vector<std::pair<std::size_t, std::size_t>> hooks_;  // (param index, hook id)
    std::vector<parameter> all_params_;
    std::size_t next_start_ = 0;
    std::size_t started_in_backward_ = 0;
    std::size_t last_started_in_backward_ = 0;
    int no_sync_depth_ = 0;
    data_parallel_stats stats_;
};

}  // namespace xgrad::nn
