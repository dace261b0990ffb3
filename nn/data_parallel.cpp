#include "data_parallel.hpp"

#include <chrono>
#include <cstring>
#include <sstream>

namespace xgrad::nn {

struct data_parallel::bucket {
    std::vector<std::size_t> members;  // indices into params_
    std::vector<std::size_t> offset;   // element offset of each member in flat
    std::size_t ready = 0;
    dtype d = dtype::float32;
    tensor flat;
    dist::request req;  // a sum; finish() scales by 1/size
    bool started = false;
    bool in_place = false;  // this step's all-reduce runs on the one member's gradient
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

std::vector<std::string> items(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// Every rank learns whether its text equals rank 0's (by hash); when any differs, every rank throws the
// same message: how many differ, the first that does and its first item unlike rank 0's.
void compare(dist::communicator& c, const std::string& mine, const std::string& what) {
    const std::uint64_t h = fnv(fnv_basis, mine);
    const std::uint64_t root = c.broadcast(h);
    const double differ = c.all_reduce(h == root ? 0.0 : 1.0, dist::reduce::sum);
    if (differ == 0) return;
    const auto all = c.gather(mine);
    std::string msg;
    if (c.is_root()) {
        std::ostringstream o;
        o << "data_parallel: " << int(differ) << " of " << c.size() << " ranks have " << what
          << " than rank 0";
        for (std::size_t r = 1; r < all.size(); ++r) {
            if (fnv(fnv_basis, all[r]) == root) continue;
            const auto a = items(all[0]), b = items(all[r]);
            std::size_t i = 0;
            while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
            const auto show = [&](const std::vector<std::string>& v) { return i < v.size() ? "'" + v[i] + "'" : "nothing"; };
            o << "; rank " << r << " has " << show(b) << " where rank 0 has " << show(a) << " (item " << i + 1 << ")";
            break;
        }
        o << ": start every rank with the same model and options";
        msg = o.str();
    }
    c.broadcast(msg);
    throw dist_mismatch_error(msg);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// × s in place, in the buffer's dtype (s = 1/size).
template <class T>
void scale_into(T* dst, const T* src, std::size_t n, T s) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i] * s;
}

}  // namespace

std::uint64_t rank_seed(std::uint64_t seed, int rank) {
    if (rank == 0) return seed;
    std::uint64_t z = seed + std::uint64_t(rank) * 0x9E3779B97F4A7C15ull;  // SplitMix64
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::string data_parallel::model_description(const module& m) {
    std::string out;
    for (const auto& [name, p] : m.named_parameters()) {
        std::ostringstream o;
        if (!out.empty()) o << ' ';
        o << name << ':';
        for (std::size_t i = 0; i < p.shape().size(); ++i) o << (i ? "x" : "") << p.shape()[i];
        if (p.shape().empty()) o << "scalar";
        o << ':' << dtype_name(p.dtype()) << ':' << (p.requires_grad() ? "trainable" : "frozen");
        out += o.str();
    }
    return out;
}

std::uint64_t data_parallel::model_hash(const module& m) { return fnv(fnv_basis, model_description(m)); }

data_parallel::data_parallel(const module& m, dist::communicator& comm, const data_parallel_options& options)
    : comm_(&comm), o_(options) {
    if (o_.bucket_bytes == 0) throw argument_error("data_parallel: bucket_bytes must be > 0");
    compare(comm, model_description(m), "a different model (parameter names, shapes, dtypes, frozen parameters)");
    compare(comm, o_.fingerprint + " bucket_bytes=" + std::to_string(o_.bucket_bytes), "different options");
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
    for (auto& k : buckets_) {  // a bucket of one parameter reduces its gradient in place (start)
        const std::size_t n = k->offset.back() + params_[k->members.back()].size();
        if (k->members.size() > 1) k->flat = tensor::zeros({n}, k->d);
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
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t b = 0; b < next_start_; ++b) buckets_[b]->req.test();  // let MPI progress
    stats_.test_s += seconds_since(t0);
}

void data_parallel::start(std::size_t b) {
    const auto t0 = std::chrono::steady_clock::now();
    bucket& k = *buckets_[b];
    k.in_place = k.members.size() == 1 && params_[k.members[0]].grad().defined();
    if (k.in_place) {
        // Backward has finished writing this gradient and nothing touches it before finish().
        tensor& g = params_[k.members[0]].grad();
        k.req = comm_->all_reduce_async(raw(g), g.size(), k.d, dist::reduce::sum);
    } else {
        if (!k.flat.defined()) k.flat = tensor::zeros({k.offset.back() + params_[k.members.back()].size()}, k.d);
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
        k.req = comm_->all_reduce_async(raw(k.flat), k.flat.size(), k.d, dist::reduce::sum);
    }
    k.started = true;
    stats_.start_s += seconds_since(t0);
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
        auto t0 = std::chrono::steady_clock::now();
        k.req.wait();
        stats_.wait_s += seconds_since(t0);
        t0 = std::chrono::steady_clock::now();
        // gradient = sum × (1/size) in the gradient's dtype, in one pass
        const auto unpack = [&](auto* src_type_tag, auto* src) {
            using T = std::remove_pointer_t<decltype(src_type_tag)>;
            const T s = T(1) / T(comm_->size());
            for (std::size_t j = 0; j < k.members.size(); ++j) {
                parameter& p = params_[k.members[j]];
                if (!p.grad().defined()) p.state_ptr()->grad = tensor::empty(p.shape(), p.dtype());
                T* dst = p.grad().template data<T>();
                scale_into(dst, src ? src + k.offset[j] : dst, p.size(), s);
            }
        };
        if (k.d == dtype::float32)
            unpack(static_cast<float*>(nullptr), k.in_place ? static_cast<const float*>(nullptr) : k.flat.data<float>());
        else
            unpack(static_cast<double*>(nullptr), k.in_place ? static_cast<const double*>(nullptr) : k.flat.data<double>());
        stats_.unpack_s += seconds_since(t0);
        k.ready = 0;
        k.started = false;
        k.in_place = false;
    }
    next_start_ = 0;
    started_in_backward_ = 0;
    ++stats_.steps;
}

}  // namespace xgrad::nn
