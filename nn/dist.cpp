#include "dist.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

#include "../graph/errors.hpp"

#ifdef XGRAD_HAVE_MPI
#include <mpi.h>
#endif

namespace xgrad::dist {

namespace {

bool g_started = false;  // init() called MPI_Init_thread


// × (1/size) in the buffer's dtype.
void scale(void* data, std::size_t n, dtype d, int size) {
    if (size == 1) return;
    if (d == dtype::float32) {
        const float s = 1.0f / float(size);
        float* p = static_cast<float*>(data);
        for (std::size_t i = 0; i < n; ++i) p[i] *= s;
    } else {
        const double s = 1.0 / double(size);
        double* p = static_cast<double*>(data);
        for (std::size_t i = 0; i < n; ++i) p[i] *= s;
    }
}

#ifdef XGRAD_HAVE_MPI
MPI_Datatype mpi_type(dtype d) { return d == dtype::float32 ? MPI_FLOAT : MPI_DOUBLE; }
int mpi_count(std::size_t n) {
    if (n > std::size_t(INT32_MAX)) throw argument_error("dist: a collective over " + std::to_string(n) + " elements exceeds MPI's int count; use smaller buckets");
    return int(n);
}
#endif

void* raw(tensor& t) { return t.dtype() == dtype::float32 ? static_cast<void*>(t.data<float>()) : static_cast<void*>(t.data<double>()); }

}  // namespace

bool built_with_mpi() {
#ifdef XGRAD_HAVE_MPI
    return true;
#else
    return false;
#endif
}

bool launched_by_mpi() {
    return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_SIZE");
}

communicator& world() {
    static communicator c;
    return c;
}

void init(int* argc, char*** argv) {
#ifdef XGRAD_HAVE_MPI
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
        if (!launched_by_mpi()) return;
        int provided = 0;
        // OpenMPI 4.1's non-blocking all-reduce (coll/libnbc) picks, by default, a binomial tree
        // (reduce to rank 0, then broadcast: the two halves run one after the other, rank 0 sums
        // everything) for fewer than 4 ranks or an in-place buffer: every gradient bucket. The ring
        // (reduce-scatter + all-gather: each rank sums 1/size of the buffer) is what large buckets
        // need. A value already in the environment (also what `mpirun --mca` sets) is kept; set it
        // to 0 for OpenMPI's own choice. (Being in the environment, this one beats MCA files.)
        ::setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
        // Only the main thread calls MPI (OpenBLAS's threads never do).
        MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        g_started = true;
    }
    communicator& c = world();
    MPI_Comm_rank(MPI_COMM_WORLD, &c.rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &c.size_);
    c.mpi_ = true;
#else
    (void)argc;
    (void)argv;
#endif
}

void finalize() {
#ifdef XGRAD_HAVE_MPI
    int fin = 0;
    MPI_Finalized(&fin);
    if (g_started && !fin) MPI_Finalize();
    g_started = false;
#endif
}

void abort(int code) {
#ifdef XGRAD_HAVE_MPI
    if (world().mpi_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    std::exit(code);
}

// ---- request -----------------------------------------------------------------------------------------

struct request::impl {
#ifdef XGRAD_HAVE_MPI
    MPI_Request req = MPI_REQUEST_NULL;
#endif
    void* data = nullptr;
    std::size_t n = 0;
    dtype d = dtype::float32;
    int scale_by = 1;  // size for a mean, 1 for a sum
    bool done = false;
};

request::request() = default;
request::~request() {
    try {
        wait();
    } catch (...) {
    }
}
request::request(request&&) noexcept = default;
request& request::operator=(request&& o) noexcept {
    if (this != &o) {
        try {
            wait();
        } catch (...) {
        }
        p_ = std::move(o.p_);
    }
    return *this;
}
bool request::active() const { return p_ != nullptr; }

bool request::test() {
    if (!p_) return true;
#ifdef XGRAD_HAVE_MPI
    if (!p_->done) {
        int flag = 0;
        MPI_Test(&p_->req, &flag, MPI_STATUS_IGNORE);
        p_->done = flag != 0;
    }
#else
    p_->done = true;
#endif
    return p_->done;
}

void request::wait() {
    if (!p_) return;
#ifdef XGRAD_HAVE_MPI
    if (!p_->done) MPI_Wait(&p_->req, MPI_STATUS_IGNORE);
#endif
    scale(p_->data, p_->n, p_->d, p_->scale_by);
    p_.reset();
}

// ---- communicator ------------------------------------------------------------------------------------

void communicator::all_reduce(void* data, std::size_t n, dtype d, reduce op) {
    if (size_ == 1 || n == 0) return;
#ifdef XGRAD_HAVE_MPI
    MPI_Allreduce(MPI_IN_PLACE, data, mpi_count(n), mpi_type(d), MPI_SUM, MPI_COMM_WORLD);
#endif
    if (op == reduce::mean) scale(data, n, d, size_);
}

void communicator::all_reduce(tensor& t, reduce op) { all_reduce(raw(t), t.size(), t.dtype(), op); }

double communicator::all_reduce(double v, reduce op) {
    all_reduce(&v, 1, dtype::float64, op);
    return v;
}

request communicator::all_reduce_async(void* data, std::size_t n, dtype d, reduce op) {
    request r;
    if (size_ == 1 || n == 0) return r;
    r.p_ = std::make_unique<request::impl>();
    r.p_->data = data;
    r.p_->n = n;
    r.p_->d = d;
    r.p_->scale_by = op == reduce::mean ? size_ : 1;
#ifdef XGRAD_HAVE_MPI
    MPI_Iallreduce(MPI_IN_PLACE, data, mpi_count(n), mpi_type(d), MPI_SUM, MPI_COMM_WORLD, &r.p_->req);
#endif
    return r;
}

request communicator::all_reduce_async(tensor& t, reduce op) { return all_reduce_async(raw(t), t.size(), t.dtype(), op); }

void communicator::broadcast(void* data, std::size_t n, dtype d, int root) {
    if (size_ == 1 || n == 0) return;
#ifdef XGRAD_HAVE_MPI
    MPI_Bcast(data, mpi_count(n), mpi_type(d), root, MPI_COMM_WORLD);
#else
    (void)data;
    (void)d;
    (void)root;
#endif
}

void communicator::broadcast(tensor& t, int root) { broadcast(raw(t), t.size(), t.dtype(), root); }

std::uint64_t communicator::broadcast(std::uint64_t v, int root) {
    if (size_ == 1) return v;
#ifdef XGRAD_HAVE_MPI
    MPI_Bcast(&v, 1, MPI_UINT64_T, root, MPI_COMM_WORLD);
#else
    (void)root;
#endif
    return v;
}

void communicator::broadcast(std::string& s, int root) {
    if (size_ == 1) return;
#ifdef XGRAD_HAVE_MPI
    const std::uint64_t n = broadcast(std::uint64_t(s.size()), root);
    s.resize(std::size_t(n));
    if (n > 0) MPI_Bcast(s.data(), mpi_count(std::size_t(n)), MPI_CHAR, root, MPI_COMM_WORLD);
#else
    (void)root;
#endif
}

std::vector<std::string> communicator::gather(const std::string& s, int root) {
    if (size_ == 1) return {s};
    std::vector<std::string> out;
#ifdef XGRAD_HAVE_MPI
    int n = mpi_count(s.size());
    std::vector<int> counts(rank_ == root ? std::size_t(size_) : 0), displs(counts.size());
    MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, root, MPI_COMM_WORLD);
    std::string all;
    if (rank_ == root) {
        std::size_t total = 0;
        for (std::size_t r = 0; r < counts.size(); ++r) {
            displs[r] = mpi_count(total);
            total += std::size_t(counts[r]);
        }
        all.resize(total);
        (void)mpi_count(total);
    }
    MPI_Gatherv(s.data(), n, MPI_CHAR, all.data(), counts.data(), displs.data(), MPI_CHAR, root, MPI_COMM_WORLD);
    if (rank_ == root)
        for (std::size_t r = 0; r < counts.size(); ++r) out.push_back(all.substr(std::size_t(displs[r]), std::size_t(counts[r])));
#else
    (void)root;
#endif
    return out;
}

void communicator::barrier() {
    if (size_ == 1) return;
#ifdef XGRAD_HAVE_MPI
    MPI_Barrier(MPI_COMM_WORLD);
#endif
}

}  // namespace xgrad::dist
