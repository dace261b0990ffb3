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
//   dtypes and trainability) and the same `fingerprint` (the caller's options as text); a mismatch
//   throws dist_mismatch_error on every rank, naming which. Then broadcasts the parameters from rank 0
//   (call broadcast_parameters() again after every load).
// - Trainable parameters are grouped, in reverse registration order (the order backward reaches them),
//   into buckets of at most bucket_bytes (one dtype per bucket). A gradient-complete hook
//   (parameter::add_grad_hook) marks a parameter ready; when every parameter of a bucket is ready and
//   every earlier bucket has started, the bucket's gradients are copied into its flat buffer and a
//   non-blocking sum-all-reduce starts. Buckets start in the same order on every rank (MPI requires
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

    // Hash of the model's parameter names, shapes, dtypes and trainability (FNV-1a 64).
    static std::uint64_t model_hash(const module& m);

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
};

}  // namespace xgrad::nn
