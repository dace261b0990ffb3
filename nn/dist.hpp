#pragma once
// xgrad::dist: the communicator of data-parallel training, over MPI (MPI_COMM_WORLD).
//
// Built without MPI (no MPI found by CMake), or run without a launcher (no mpirun in the environment),
// it is a size-1 communicator: rank 0 of 1, every collective a no-op (mean of one = the value), so the
// same program runs alone. MPI types stay out of this header: consumers need no MPI include.
//
//   dist::init(&argc, &argv);                      // MPI_Init_thread when launched by mpirun
//   auto& c = dist::world();
//   c.all_reduce(t, dist::reduce::mean);           // in place, float32 or float64
//   dist::request r = c.all_reduce_async(t, dist::reduce::sum);  ... r.wait();
//   dist::finalize();
//
// Errors: MPI's default handler on MPI_COMM_WORLD aborts the job on a failed call; a rank that
// throws should call dist::abort (cli/main.cpp does), which ends every rank (MPI_Abort).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../graph/tensor.hpp"

namespace xgrad::dist {

enum class reduce { sum, mean };

// Whether this build has MPI.
bool built_with_mpi();
// Whether the environment says an MPI launcher started this process (OMPI_COMM_WORLD_SIZE,
// PMIX_RANK or PMI_SIZE set). init() only starts MPI then: a plain run never pays for MPI_Init.
bool launched_by_mpi();
// Initialise MPI once (idempotent) when built with MPI and launched by a launcher; else nothing.
// Before MPI_Init it sets OMPI_MCA_coll_libnbc_iallreduce_algorithm=1 (OpenMPI's ring for the
// non-blocking all-reduce) unless the environment already sets it (docs/distributed.md, "Overlap").
void init(int* argc, char*** argv);
// Finalize MPI if init() started it (idempotent).
void finalize();
// End every rank of the job now with `code` (MPI_Abort; std::exit(code) in a size-1 run).
[[noreturn]] void abort(int code);

// A pending non-blocking all-reduce. wait() completes it (and divides by the size for a mean);
// the destructor waits too, so a buffer is never left with a collective in flight.
class request {
public:
    request();
    ~request();
    request(request&&) noexcept;
    request& operator=(request&&) noexcept;
    void wait();
    // Lets MPI progress the operation; true once it is complete (then wait() only scales).
    bool test();
    bool active() const;
    struct impl;

private:
    friend class communicator;
    std::unique_ptr<impl> p_;
};

class communicator {
public:
    int rank() const { return rank_; }
    int size() const { return size_; }
    bool is_root() const { return rank_ == 0; }

    // In place over n elements of a float32/float64 buffer. mean = sum then × (1/size), in the
    // buffer's dtype (for 2 ranks exactly (a + b) / 2).
    void all_reduce(void* data, std::size_t n, dtype d, reduce op);
    void all_reduce(tensor& t, reduce op);
    request all_reduce_async(void* data, std::size_t n, dtype d, reduce op);
    request all_reduce_async(tensor& t, reduce op);
    double all_reduce(double v, reduce op);
    // Root's buffer into every rank's (same size and dtype on all ranks).
    void broadcast(void* data, std::size_t n, dtype d, int root = 0);
    void broadcast(tensor& t, int root = 0);
    std::uint64_t broadcast(std::uint64_t v, int root = 0);
    // Root's string into every rank's (any length; the others' strings are replaced).
    void broadcast(std::string& s, int root = 0);
    // Every rank's string, in rank order, on root; an empty vector on the other ranks.
    std::vector<std::string> gather(const std::string& s, int root = 0);
    void barrier();

private:
    friend communicator& world();
    friend void init(int* argc, char*** argv);
    friend void abort(int code);
    int rank_ = 0, size_ = 1;
    bool mpi_ = false;
};

// The world communicator (size 1 until init() started MPI).
communicator& world();

}  // namespace xgrad::dist
