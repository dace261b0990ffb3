#include "data.hpp"

#include <cmath>
#include <cstring>
#include <numeric>

namespace xgrad::nn {

namespace {

std::size_t row_size(const tensor& t) {
    std::size_t n = 1;
    for (std::size_t d = 1; d < t.dim(); ++d) n *= t.shape()[d];
    return n;
}

std::size_t rows_of(const tensor& t, const char* who, const char* what) {
    if (!t.defined()) throw argument_error(std::string(who) + ": " + what + " is undefined");
    if (t.dim() == 0) throw argument_error(std::string(who) + ": " + what + " is 0-d; samples lie along axis 0");
    return t.shape()[0];
}

}  // namespace

void take_rows(const tensor& t, const std::vector<std::size_t>& rows, tensor& out) {
    const std::size_t n = rows_of(t, "take_rows", "the tensor");
    shape_t shape = t.shape();
    shape[0] = rows.size();
    out.reshape_storage(shape, t.dtype());
    const std::size_t row = row_size(t);
    t.visit([&](const auto& a) {
        using T = typename std::decay_t<decltype(a)>::value_type;
        T* dst = out.data<T>();
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (rows[i] >= n)
                throw argument_error("take_rows: row " + std::to_string(rows[i]) + " is past the end (" +
                                     std::to_string(n) + " rows)");
            std::memcpy(dst + i * row, a.data() + rows[i] * row, row * sizeof(T));
        }
    });
}

tensor take_rows(const tensor& t, const std::vector<std::size_t>& rows) {
    tensor out;
    take_rows(t, rows, out);
    return out;
}

std::vector<std::size_t> permutation(std::size_t n, rng& gen) {
    std::vector<std::size_t> p(n);
    std::iota(p.begin(), p.end(), std::size_t{0});
    for (std::size_t i = n; i > 1; --i) std::swap(p[i - 1], p[gen.index(i)]);
    return p;
}

// ---- data_loader -------------------------------------------------------------------------------------

data_loader::data_loader(tensor x, tensor y, const loader_options& options)
    : x_(std::move(x)), y_(std::move(y)), o_(options), n_(rows_of(x_, "data_loader", "x")), gen_(options.seed), pos_(n_) {
    if (o_.batch_size == 0) throw argument_error("data_loader: batch_size must be > 0");
    if (y_.defined() && rows_of(y_, "data_loader", "y") != n_)
        throw argument_error("data_loader: x has " + std::to_string(n_) + " samples but y has " +
                             std::to_string(y_.shape()[0]) + " (shapes " + shape_str(x_.shape()) + " and " +
                             shape_str(y_.shape()) + ")");
    if (n_ == 0) throw argument_error("data_loader: no samples");
    if (o_.shard_count == 0 || o_.shard_rank >= o_.shard_count)
        throw argument_error("data_loader: shard_rank " + std::to_string(o_.shard_rank) + " is not below shard_count " +
                             std::to_string(o_.shard_count));
    if (n_ < o_.shard_count)
        throw argument_error("data_loader: " + std::to_string(n_) + " samples cannot be shared by " +
                             std::to_string(o_.shard_count) + " ranks (each needs one at least)");
    order_.resize(n_);
    std::iota(order_.begin(), order_.end(), std::size_t{0});
}

std::size_t data_loader::batches_per_epoch() const {
    const std::size_t n = shard_samples();
    return o_.drop_last ? n / o_.batch_size : (n + o_.batch_size - 1) / o_.batch_size;
}

void data_loader::begin_epoch() {
    if (order_.size() != n_) {  // the last epoch kept only this rank's shard
        order_.resize(n_);
        std::iota(order_.begin(), order_.end(), std::size_t{0});
    }
    if (o_.shuffle) {
        std::iota(order_.begin(), order_.end(), std::size_t{0});
        for (std::size_t i = n_; i > 1; --i) std::swap(order_[i - 1], order_[gen_.index(i)]);
    }
    if (o_.shard_count > 1) {
        const std::size_t len = n_ / o_.shard_count;
        for (std::size_t k = 0; k < len; ++k) order_[k] = order_[o_.shard_rank + k * o_.shard_count];
        order_.resize(len);
    }
    pos_ = 0;
    ++epoch_;
    in_epoch_ = true;
}

bool data_loader::next(batch& out) {
    if (!in_epoch_) begin_epoch();
    const std::size_t left = order_.size() - pos_;
    if (left == 0 || (o_.drop_last && left < o_.batch_size)) {
        in_epoch_ = false;
        return false;
    }
    const std::size_t b = std::min(o_.batch_size, left);
    out.index.assign(order_.begin() + static_cast<std::ptrdiff_t>(pos_), order_.begin() + static_cast<std::ptrdiff_t>(pos_ + b));
    pos_ += b;
    take_rows(x_, out.index, out.x);
    if (y_.defined())
        take_rows(y_, out.index, out.y);
    else
        out.y = tensor();
    return true;
}

// ---- split and windows -------------------------------------------------------------------------------

split train_test_split(const tensor& x, const tensor& y, const split_options& o) {
    const std::size_t n = rows_of(x, "train_test_split", "x");
    if (y.defined() && rows_of(y, "train_test_split", "y") != n)
        throw argument_error("train_test_split: x has " + std::to_string(n) + " samples but y has " +
                             std::to_string(y.shape()[0]));
    if (!(o.test_fraction > 0 && o.test_fraction < 1))
        throw argument_error("train_test_split: test_fraction must be in (0, 1), got " + std::to_string(o.test_fraction));
    const auto n_test = static_cast<std::size_t>(std::ceil(static_cast<double>(n) * o.test_fraction - 1e-9));
    if (n_test == 0 || n_test >= n)
        throw argument_error("train_test_split: " + std::to_string(n) + " samples with test_fraction " +
                             std::to_string(o.test_fraction) + " leave an empty train or test set");
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (o.shuffle) {
        rng gen(o.seed);
        order = permutation(n, gen);
    }
    const std::vector<std::size_t> train(order.begin(), order.end() - static_cast<std::ptrdiff_t>(n_test));
    const std::vector<std::size_t> test(order.end() - static_cast<std::ptrdiff_t>(n_test), order.end());
    split s;
    s.x_train = take_rows(x, train);
    s.x_test = take_rows(x, test);
    if (y.defined()) {
        s.y_train = take_rows(y, train);
        s.y_test = take_rows(y, test);
    }
    return s;
}

windows make_windows(const tensor& series, const window_options& o) {
    if (!series.defined() || series.dim() == 0 || series.dim() > 2)
        throw argument_error("make_windows: the series must be [T] or [T, F], got " +
                             (series.defined() ? shape_str(series.shape()) : std::string("an undefined tensor")));
    if (o.window == 0 || o.horizon == 0 || o.stride == 0)
        throw argument_error("make_windows: window, horizon and stride must all be > 0");
    const std::size_t T = series.shape()[0], F = series.dim() == 2 ? series.shape()[1] : 1;
    if (T < o.window + o.horizon)
        throw argument_error("make_windows: a series of " + std::to_string(T) + " steps is shorter than window (" +
                             std::to_string(o.window) + ") + horizon (" + std::to_string(o.horizon) + ")");
    const std::size_t N = (T - o.window - o.horizon) / o.stride + 1;
    windows w;
    w.x = tensor::empty({N, o.window, F}, series.dtype());
    w.y = tensor::empty({N, o.horizon * F}, series.dtype());
    series.visit([&](const auto& a) {
        using T_ = typename std::decay_t<decltype(a)>::value_type;
        T_* x = w.x.data<T_>();
        T_* y = w.y.data<T_>();
        for (std::size_t i = 0; i < N; ++i) {
            const T_* start = a.data() + i * o.stride * F;
            std::memcpy(x + i * o.window * F, start, o.window * F * sizeof(T_));
            std::memcpy(y + i * o.horizon * F, start + o.window * F, o.horizon * F * sizeof(T_));
        }
    });
    return w;
}

}  // namespace xgrad::nn
