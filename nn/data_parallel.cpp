#include "data_parallel.hpp"

#include <cstring>

namespace xgrad::nn {

struct data_parallel::bucket {
    std::vector<std::size_t> members;  // indices into params_
    std::vector<std::size_t> offset;   // element offset of each member in flat
    std::size_t ready = 0;
    dtype d = dtype::float32;
    tensor flat;
    dist::request req;
    bool started = false;
};

namespace {

std::uint64_t fnv(std::uint64_t h, const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}
std::uint64_t fnv(std::uint64_t h, const std::string& s) { return fnv(h, s.data(), s.size() + 1); }
constexpr std::uint64_t fnv_basis = 14695981039346656037ull;

void* raw(tensor& t) { return t.dtype() == dtype::float32 ? static_cast<void*>(t.data<float>()) : static_cast<void*>(t.data<double>()); }
std::size_t esize(dtype d) { return d == dtype::float32 ? 4 : 8; }

// Every rank learns whether its hash equals rank 0's; throws on all ranks when any differs.
void compare(dist::communicator& c, std::uint64_t mine, const std::string& what) {
    const std::uint64_t root = c.broadcast(mine);
    const double differ = c.all_reduce(mine == root ? 0.0 : 1.0, dist::reduce::sum);
    if (differ > 0)
        throw dist_mismatch_error("data_parallel: " + std::to_string(int(differ)) + " of " + std::to_string(c.size()) +
                                  " ranks have a different " + what + " than rank 0" +
                                  (mine != root ? " (this rank, " + std::to_string(c.rank()) + ", is one)" : "") +
                                  ": start every rank with the same model and options");
}

}  // namespace

std::uint64_t data_parallel::model_hash(const module& m) {
    std::uint64_t h = fnv_basis;
    for (const auto& [name, p] : m.named_parameters()) {
        h = fnv(h, name);
        for (std::size_t s : p.shape()) h = fnv(h, &s, sizeof s);
        const auto d = static_cast<unsigned char>(p.dtype());
        h = fnv(h, &d, 1);
        const unsigned char rg = p.requires_grad();
        h = fnv(h, &rg, 1);
    }
    return h;
}

data_parallel::data_parallel(const module& m, dist::communicator& comm, const data_parallel_options& options)
    : comm_(&comm), o_(options) {
    if (o_.bucket_bytes == 0) throw argument_error("data_parallel: bucket_bytes must be > 0");
    compare(comm, model_hash(m), "model (parameter names, shapes, dtypes, frozen parameters)");
    compare(comm, fnv(fnv_basis, o_.fingerprint + "\nbucket_bytes=" + std::to_string(o_.bucket_bytes)), "options");
    auto named = m.named_parameters();
    for (auto& [n, p] : named) all_params_.push_back(p);
    // Reverse registration order: backward reaches the last layers first.
    for (auto it = named.rbegin(); it != named.rend(); ++it) {
        if (!it->second.requires_grad()) continue;
        params_.push_back(it->second);
        names_.push_back(it->first);
    }
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < params_.size(); ++i) {
        const dtype d = params_[i].dtype();
        const std::size_t b = params_[i].size() * esize(d);
        if (buckets_.empty() || buckets_.back()->d != d || (bytes > 0 && bytes + b > o_.bucket_bytes)) {
            buckets_.push_back(std::make_unique<bucket>());
            buckets_.back()->d = d;
            bytes = 0;
        }
        bucket& k = *buckets_.back();
        std::size_t off = 0;
        if (!k.members.empty()) off = k.offset.back() + params_[k.members.back()].size();
        k.members.push_back(i);
        k.offset.push_back(off);
        bytes += b;
        bucket_of_.push_back(buckets_.size() - 1);
    }
    for (auto& k : buckets_) {
        const std::size_t n = k->offset.back() + params_[k->members.back()].size();
        k->flat = tensor::zeros({n}, k->d);
    }
    for (std::size_t i = 0; i < params_.size(); ++i)
        hooks_.emplace_back(i, params_[i].add_grad_hook([this, i](parameter&) { on_ready(i); }));
    if (o_.broadcast_at_start) broadcast_parameters();
}

data_parallel::~data_parallel() {
    for (auto& k : buckets_) k->req = dist::request();  // waits for anything in flight
    for (auto [i, id] : hooks_) params_[i].remove_grad_hook(id);
}

std::size_t data_parallel::buckets() const { return buckets_.size(); }

std::vector<std::string> data_parallel::bucket_names(std::size_t i) const {
    std::vector<std::string> out;
    for (std::size_t m : buckets_.at(i)->members) out.push_back(names_[m]);
    return out;
}

void data_parallel::broadcast_parameters(int root) {
    // Every parameter, frozen ones too: the replicas must be identical.
    for (auto& p : all_params_) comm_->broadcast(p.value(), root);
}

void data_parallel::on_ready(std::size_t i) {
    if (no_sync_depth_ > 0 || comm_->size() == 1) return;
    bucket& k = *buckets_[bucket_of_[i]];
    if (k.started)
        throw argument_error("data_parallel: a second backward reached '" + names_[i] +
                          "' before finish(); call finish() after each backward, or use no_sync() to accumulate");
    ++k.ready;
    const std::size_t before = next_start_;
    start_ready();
    started_in_backward_ += next_start_ - before;
    for (std::size_t b = 0; b < next_start_; ++b) buckets_[b]->req.test();  // let MPI progress
}

void data_parallel::start(std::size_t b) {
    bucket& k = *buckets_[b];
    k.flat.visit([&](auto& a) {
        using T = typename std::decay_t<decltype(a)>::value_type;
        T* dst = a.data();
        for (std::size_t j = 0; j < k.members.size(); ++j) {
            parameter& p = params_[k.members[j]];
            const std::size_t n = p.size();
            if (p.grad().defined())
                std::memcpy(dst + k.offset[j], p.grad().template data<T>(), n * sizeof(T));
            else
                std::memset(dst + k.offset[j], 0, n * sizeof(T));
        }
    });
    k.req = comm_->all_reduce_async(raw(k.flat), k.flat.size(), k.d, dist::reduce::mean);
    k.started = true;
}

void data_parallel::start_ready() {
    while (next_start_ < buckets_.size() && buckets_[next_start_]->ready == buckets_[next_start_]->members.size())
        start(next_start_++);
}

void data_parallel::finish() {
    if (no_sync_depth_ > 0 || comm_->size() == 1) return;
    last_started_in_backward_ = started_in_backward_;
    for (std::size_t b = next_start_; b < buckets_.size(); ++b) start(b);
    for (auto& kp : buckets_) {
        bucket& k = *kp;
        k.req.wait();
        k.flat.visit([&](auto& a) {
            using T = typename std::decay_t<decltype(a)>::value_type;
            const T* src = a.data();
            for (std::size_t j = 0; j < k.members.size(); ++j) {
                parameter& p = params_[k.members[j]];
                if (!p.grad().defined()) p.state_ptr()->grad = tensor::zeros(p.shape(), p.dtype());
                std::memcpy(p.grad().template data<T>(), src + k.offset[j], p.size() * sizeof(T));
            }
        });
        k.ready = 0;
        k.started = false;
    }
    next_start_ = 0;
    started_in_backward_ = 0;
}

}  // namespace xgrad::nn
