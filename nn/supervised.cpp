#include "supervised.hpp"

#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>

#include "../ops/ops.hpp"
#include "checkpoint.hpp"
#include "data.hpp"
#include "linear.hpp"
#include "optim.hpp"

namespace xgrad::nn {

namespace {

// The fraction of rows of logits [N, C] whose argmax (the first on ties) equals the label y[i].
double accuracy(const tensor& logits, const tensor& y) {
    const std::size_t N = logits.shape()[0], C = logits.shape()[1];
    std::size_t right = 0;
    for (std::size_t i = 0; i < N; ++i) {
        std::size_t best = 0;
        for (std::size_t c = 1; c < C; ++c)
            if (logits.flat(i * C + c) > logits.flat(i * C + best)) best = c;
        right += double(best) == y.flat(i);
    }
    return double(right) / double(N);
}

tensor text_codes(const std::string& s) {
    tensor t = tensor::zeros({s.size()}, dtype::float64);
    for (std::size_t i = 0; i < s.size(); ++i) t.set_flat(i, static_cast<unsigned char>(s[i]));
    return t;
}

}  // namespace

sequence_regressor_options task_model_options(const task_model_info& info) {
    sequence_regressor_options o;
    o.cell = info.cell;
    o.activation = info.activation;
    o.hidden = info.hidden;
    o.input_size = info.features;
    o.output_size = info.outputs;
    o.seed = info.seed;
    o.dt = info.dt;
    o.num_layers = info.layers;
    o.bidirectional = info.bidirectional;
    o.dropout = info.dropout;
    return o;
}

std::function<var(const var&, const var&)> task_loss(task_kind task) {
    if (task == task_kind::classify) return [](const var& logits, const var& y) { return cross_entropy(logits, y); };
    return [](const var& p, const var& y) { return mse(p, y); };
}

tensor predict_outputs(sequence_regressor& model, const tensor& x, std::size_t batch,
                       const std::vector<std::size_t>& lengths) {
    no_grad guard;
    mode_guard evaluation(model, false);
    tape t;
    const std::size_t N = x.shape()[0];
    if (!lengths.empty() && lengths.size() != N)
        throw argument_error("nn::predict_outputs: " + std::to_string(lengths.size()) + " lengths for " +
                             std::to_string(N) + " samples (one per sample, or none)");
    tensor out;
    std::vector<std::size_t> rows, lens;
    for (std::size_t start = 0; start < N; start += batch) {
        rows.clear();
        lens.clear();
        for (std::size_t i = start; i < std::min(N, start + batch); ++i) {
            rows.push_back(i);
            if (!lengths.empty()) lens.push_back(lengths[i]);
        }
        t.clear();
        const tensor& p = model(input(take_rows(x, rows)), lens).value();
        if (!out.defined()) out = tensor::zeros({N, p.shape()[1]}, p.dtype());
        const std::size_t K = p.shape()[1];
        for (std::size_t i = 0; i < p.size(); ++i) out.set_flat(start * K + i, p.flat(i));
    }
    return out;
}

task_metrics evaluate_task(sequence_regressor& model, const labelled_data& data, task_kind task, std::size_t batch) {
    if (!data.y.defined()) throw argument_error("evaluate_task: the data has no targets");
    const tensor out = predict_outputs(model, data.x, batch, data.lengths);
    no_grad guard;
    tape t;
    task_metrics m;
    m.loss = task_loss(task)(input(out), input(data.y)).item();
    m.accuracy = std::numeric_limits<double>::quiet_NaN();
    if (task == task_kind::classify) {
        m.accuracy = accuracy(out, data.y);
    }
    return m;
}

bool best_weights::observe(double loss, std::size_t epoch, const module& m) {
    if (best_epoch_ == 0 || loss < best_) {
        best_ = loss;
        best_epoch_ = epoch;
        since_ = 0;
        values_.clear();
        for (const auto& p : m.parameters()) values_.push_back(p.value());
        return false;
    }
    ++since_;
    return patience_ > 0 && since_ >= patience_;
}

void best_weights::restore(module& m) const {
    if (values_.empty()) return;
    auto ps = m.parameters();
    for (std::size_t i = 0; i < ps.size() && i < values_.size(); ++i) ps[i].value() = values_[i];
}

namespace {

// x [N, T, F] as float64 [N, T·F].
tensor flat_inputs(const labelled_data& d) {
    tensor x = d.x.to(dtype::float64);
    x.reshape({x.shape()[0], x.shape()[1] * x.shape()[2]});
    return x;
}

}  // namespace

double persistence_mse(const labelled_data& test) {
    const std::size_t N = test.size(), T = test.x.shape()[1], F = test.x.shape()[2];
    if (!test.y.defined() || test.y.dim() != 2 || test.y.shape()[1] != F)
        throw argument_error("persistence_mse: the targets must be the next step of the inputs' F = " + std::to_string(F) + " columns");
    double s = 0;
    for (std::size_t i = 0; i < N; ++i)
        for (std::size_t f = 0; f < F; ++f) {
            const double e = test.x.flat((i * T + T - 1) * F + f) - test.y.flat(i * F + f);
            s += e * e;
        }
    return s / double(N * F);
}

double least_squares_mse(const labelled_data& train, const labelled_data& test) {
    const tensor X = flat_inputs(train), Xt = flat_inputs(test);
    const std::size_t N = X.shape()[0], D = X.shape()[1] + 1, K = train.y.size() / N;
    // Normal equations A β = B with A = Σ z zᵀ, B = Σ z yᵀ, z = [x, 1]; Gaussian elimination with
    // partial pivoting (D is small: one row per input plus the intercept).
    std::vector<double> A(D * D, 0.0), B(D * K, 0.0), z(D);
    for (std::size_t i = 0; i < N; ++i) {
        for (std::size_t j = 0; j + 1 < D; ++j) z[j] = X.flat(i * (D - 1) + j);
        z[D - 1] = 1;
        for (std::size_t a = 0; a < D; ++a) {
            for (std::size_t b = 0; b < D; ++b) A[a * D + b] += z[a] * z[b];
            for (std::size_t k = 0; k < K; ++k) B[a * K + k] += z[a] * train.y.flat(i * K + k);
        }
    }
    for (std::size_t c = 0; c < D; ++c) {
        std::size_t p = c;
        for (std::size_t r = c + 1; r < D; ++r)
            if (std::abs(A[r * D + c]) > std::abs(A[p * D + c])) p = r;
        if (std::abs(A[p * D + c]) < 1e-12) throw argument_error("least_squares_mse: the inputs are collinear (singular normal equations)");
        for (std::size_t b = 0; b < D; ++b) std::swap(A[c * D + b], A[p * D + b]);
        for (std::size_t k = 0; k < K; ++k) std::swap(B[c * K + k], B[p * K + k]);
        for (std::size_t r = 0; r < D; ++r) {
            if (r == c) continue;
            const double f = A[r * D + c] / A[c * D + c];
            for (std::size_t b = c; b < D; ++b) A[r * D + b] -= f * A[c * D + b];
            for (std::size_t k = 0; k < K; ++k) B[r * K + k] -= f * B[c * K + k];
        }
    }
    for (std::size_t c = 0; c < D; ++c)
        for (std::size_t k = 0; k < K; ++k) B[c * K + k] /= A[c * D + c];
    double s = 0;
    const std::size_t M = Xt.shape()[0];
    for (std::size_t i = 0; i < M; ++i)
        for (std::size_t k = 0; k < K; ++k) {
            double p = B[(D - 1) * K + k];
            for (std::size_t j = 0; j + 1 < D; ++j) p += Xt.flat(i * (D - 1) + j) * B[j * K + k];
            const double e = p - test.y.flat(i * K + k);
            s += e * e;
        }
    return s / double(M * K);
}

double majority_accuracy(const labelled_data& train, const labelled_data& test) {
    std::vector<std::size_t> count;
    for (std::size_t i = 0; i < train.y.size(); ++i) {
        const auto c = static_cast<std::size_t>(train.y.flat(i));
        if (c >= count.size()) count.resize(c + 1, 0);
        ++count[c];
    }
    const auto top = static_cast<double>(std::max_element(count.begin(), count.end()) - count.begin());
    std::size_t right = 0;
    for (std::size_t i = 0; i < test.y.size(); ++i) right += test.y.flat(i) == top;
    return double(right) / double(test.y.size());
}

double logistic_regression_accuracy(const labelled_data& train, const labelled_data& test, std::size_t classes,
                                    std::size_t steps, std::uint64_t seed) {
    const tensor X = flat_inputs(train), Xt = flat_inputs(test), y = train.y.to(dtype::float64);
    linear model(X.shape()[1], classes, true, init_style::keras, seed, dtype::float64);
    adam opt(model, {.lr = 1e-2});
    tape t;
    for (std::size_t s = 0; s < steps; ++s) {
        t.clear();
        opt.zero_grad();
        t.backward(cross_entropy(model(input(X)), input(y)));
        opt.step();
    }
    no_grad guard;
    t.clear();
    return accuracy(model(input(Xt)).value(), test.y);
}

void save_task_model(const std::string& path, const module& model, const task_model_info& info, const optimizer* opt,
                     const named_tensors& metadata) {
    const auto num = [](double x) { return tensor::scalar(x, dtype::float64); };
    save_options so;
    so.metadata = {{"xgrad_task_model", num(1)},
                   {"task", num(info.task == task_kind::classify ? 1 : 0)},
                   {"steps", num(double(info.steps))},
                   {"features", num(double(info.features))},
                   {"outputs", num(double(info.outputs))},
                   {"window", num(double(info.window))},
                   {"hidden", num(double(info.hidden))},
                   {"layers", num(double(info.layers))},
                   {"bidirectional", num(info.bidirectional ? 1 : 0)},
                   {"dropout", num(info.dropout)},
                   {"float64", num(info.dt == dtype::float64 ? 1 : 0)},
                   {"cell", text_codes(info.cell)},
                   {"activation", text_codes(info.activation)}};
    so.metadata.insert(so.metadata.end(), metadata.begin(), metadata.end());
    save_checkpoint(path, model, opt, so);
}

std::pair<std::unique_ptr<sequence_regressor>, task_model_info> load_task_model(const std::string& path) {
    if (!std::filesystem::exists(path))
        throw checkpoint_io_error("model checkpoint '" + path + "' does not exist (train one with: xgrad train --data FILE --save " +
                                  path + ")");
    const auto meta = read_metadata(path);
    const auto bad = [&](const std::string& why) {
        return checkpoint_error("'" + path + "' is not an `xgrad train --data` checkpoint: " + why);
    };
    const auto lookup = [&](const std::string& name) -> const tensor* {
        for (auto& [n, t] : meta)
            if (n == name) return &t;
        return nullptr;
    };
    const auto find = [&](const std::string& name) -> const tensor& {
        if (const tensor* t = lookup(name)) return *t;
        throw bad("it has no meta." + name + " array");
    };
    // A scalar in [lo, hi] (whole: an integer); `fallback` when the array is absent and fallback is given.
    const auto scalar = [&](const std::string& name, double lo, double hi, bool integral, std::optional<double> fallback) {
        if (!lookup(name) && fallback) return *fallback;
        const tensor& t = find(name);  // throws, naming the array, when it is absent
        if (t.dim() != 0) throw bad("meta." + name + " is not a scalar");
        const double x = t.item();
        if (!(x >= lo && x <= hi) || (integral && x != std::floor(x)))
            throw bad("meta." + name + " = " + std::to_string(x) + " is out of range");
        return x;
    };
    const auto whole = [&](const std::string& name, double lo, double hi, std::optional<double> fallback = std::nullopt) {
        return static_cast<std::size_t>(scalar(name, lo, hi, true, fallback));
    };
    const auto text = [&](const std::string& name) {
        const tensor& t = find(name);
        if (t.dim() != 1 || t.size() == 0 || t.size() > 64) throw bad("meta." + name + " must hold 1..64 character codes");
        std::string s;
        for (std::size_t i = 0; i < t.size(); ++i) {
            const double c = t.flat(i);
            if (!(c >= 32 && c <= 126) || c != std::floor(c)) throw bad("meta." + name + " holds a code that is not a printable character");
            s += static_cast<char>(c);
        }
        return s;
    };
    if (whole("xgrad_task_model", 0, 1e9) != 1) throw bad("unknown format version meta.xgrad_task_model");
    task_model_info info;
    info.task = whole("task", 0, 1) == 1 ? task_kind::classify : task_kind::regress;
    info.steps = whole("steps", 1, 1e9);
    info.features = whole("features", 1, 1e9);
    info.outputs = whole("outputs", 1, 1e9);
    info.window = whole("window", 0, 1e9);
    info.hidden = whole("hidden", 1, 1e9);
    // Written since stacked and bidirectional --data models; older checkpoints hold one layer, one direction.
    info.layers = whole("layers", 1, 1e9, 1);
    info.bidirectional = whole("bidirectional", 0, 1, 0) == 1;
    info.dropout = scalar("dropout", 0, std::nextafter(1.0, 0.0), false, 0.0);
    info.dt = whole("float64", 0, 1) == 1 ? dtype::float64 : dtype::float32;
    info.cell = text("cell");
    info.activation = text("activation");
    auto model = std::make_unique<sequence_regressor>(task_model_options(info));
    load_checkpoint(path, *model);
    return {std::move(model), info};
}

}  // namespace xgrad::nn
