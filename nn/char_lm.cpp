#include "char_lm.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "../ops/ops.hpp"
#include "checkpoint.hpp"
#include "clip.hpp"
#include "data_parallel.hpp"
#include "optim.hpp"

namespace xgrad::nn {

namespace {

// ids[from .. from + n) as a [1, n] input and ids[from + 1 .. from + n] as targets
void fill_chunk(const std::vector<std::size_t>& ids, std::size_t from, std::size_t n, std::size_t row, tensor& x, tensor& y) {
    for (std::size_t t = 0; t < n; ++t) {
        x.set_flat(row * n + t, static_cast<double>(ids[from + t]));
        y.set_flat(row * n + t, static_cast<double>(ids[from + t + 1]));
    }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double bits_per_char(char_model& model, const std::vector<std::size_t>& ids, std::size_t seq) {
    if (seq == 0) throw argument_error("bits_per_char: seq must be positive");
    if (ids.size() < 2) return std::numeric_limits<double>::quiet_NaN();
    tape t;
    no_grad ng;
    char_model_state state;
    double nats = 0;
    const std::size_t predictions = ids.size() - 1;
    for (std::size_t s = 0; s < predictions; s += seq) {
        t.clear();
        const std::size_t n = std::min(seq, predictions - s);
        tensor x = tensor::zeros({1, n}), y = tensor::zeros({n});
        fill_chunk(ids, s, n, 0, x, y);
        nats += cross_entropy(model(x, state), input(y)).item() * double(n);
    }
    return nats / double(predictions) / std::log(2.0);
}

char_train_result train_char_model(char_model& model, const std::vector<std::size_t>& train,
                                 const std::vector<std::size_t>& held_out, const char_train_options& o,
                                 const std::function<void(const char_train_progress&)>& on_step) {
    if (o.seq == 0 || o.batch == 0) throw argument_error("train_char_model: seq and batch must be positive");
    const std::size_t ranks = o.parallel ? std::size_t(o.parallel->comm().size()) : 1;
    const std::size_t rank = o.parallel ? std::size_t(o.parallel->comm().rank()) : 0;
    const std::size_t streams = o.batch * ranks;  // over the whole job; this rank's: rank·batch + b
    if (train.size() < streams * (o.seq + 1))
        throw argument_error("the training text has " + std::to_string(train.size()) + " characters; --batch " +
                             std::to_string(o.batch) + (ranks > 1 ? " x " + std::to_string(ranks) + " ranks" : std::string()) +
                             " x (--seq " + std::to_string(o.seq) + " + 1) = " + std::to_string(streams * (o.seq + 1)) +
                             " are needed: give more text or lower --batch/--seq");
    const auto t0 = std::chrono::steady_clock::now();
    char_train_result r;
    r.initial_bpc = bits_per_char(model, held_out, o.seq);
    adam opt(model, {.lr = o.lr});
    const std::size_t every = o.eval_every ? o.eval_every : std::max<std::size_t>(1, o.steps / 10);
    // stream g reads train[g·L .. (g+1)·L]; L - 1 predictions per stream and epoch
    const std::size_t L = train.size() / streams;
    std::size_t pos = 0;
    char_model_state state;
    tape t;
    tensor x = tensor::zeros({o.batch, o.seq}), y = tensor::zeros({o.batch * o.seq});
    double loss_sum = 0;
    std::size_t loss_n = 0;
    for (std::size_t step = 1; step <= o.steps; ++step) {
        if (pos + o.seq + 1 > L) {  // a new pass over the text: streams restart from a zero state
            pos = 0;
            state.reset();
        }
        for (std::size_t b = 0; b < o.batch; ++b) fill_chunk(train, (rank * o.batch + b) * L + pos, o.seq, b, x, y);
        pos += o.seq;
        t.clear();
        var loss = cross_entropy(model(x, state), input(y));
        opt.zero_grad();
        t.backward(loss);
        if (o.parallel) o.parallel->finish();  // gradients = the mean over ranks, before clipping
        if (o.clip > 0) clip_grad_norm(model, o.clip);
        opt.step();
        // equal shards: the mean of the ranks' losses is the job's mean loss
        const double l = o.parallel ? o.parallel->comm().all_reduce(loss.item(), dist::reduce::mean) : loss.item();
        loss_sum += l;
        ++loss_n;
        char_train_progress p{step, o.steps, l, std::numeric_limits<double>::quiet_NaN(), seconds_since(t0), false};
        if (on_step) on_step(p);
        if (step % every == 0 || step == o.steps) {
            p.train_loss = loss_sum / double(loss_n);
            loss_sum = 0;
            loss_n = 0;
            p.held_out_bpc = bits_per_char(model, held_out, o.seq);
            p.seconds = seconds_since(t0);
            p.evaluated = true;
            r.final_bpc = p.held_out_bpc;
            if (on_step) on_step(p);
        }
    }
    if (o.steps == 0) r.final_bpc = r.initial_bpc;
    r.seconds = seconds_since(t0);
    return r;
}

std::vector<double> next_char_probs(const tensor& logits_row, double temperature) {
    if (!(temperature > 0) || !std::isfinite(temperature))
        throw argument_error("temperature must be a positive number, got " + std::to_string(temperature));
    const std::size_t V = logits_row.size();
    std::vector<double> p(V);
    double mx = -std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < V; ++k) mx = std::max(mx, logits_row.flat(k));
    double sum = 0;
    for (std::size_t k = 0; k < V; ++k) sum += p[k] = std::exp((logits_row.flat(k) - mx) / temperature);
    for (auto& q : p) q /= sum;
    return p;
}

std::string sample(char_model& model, const std::string& prime, std::size_t length, double temperature,
                   std::uint64_t seed) {
    if (!(temperature >= 0) || !std::isfinite(temperature))
        throw argument_error("temperature must be >= 0 (0 = greedy), got " + std::to_string(temperature));
    const vocabulary& v = model.vocab();
    std::string context = prime;
    if (context.empty()) context = v.contains('\n') ? std::string("\n") : std::string(1, v.at(0));
    const auto ids = v.encode(context);  // throws for a character outside the vocabulary
    tape t;
    no_grad ng;
    char_model_state state;
    tensor x = tensor::zeros({1, 1});
    // read the prime; the logits of its last character give the first sampled one
    tensor logits;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        t.clear();
        x.set_flat(0, static_cast<double>(ids[i]));
        if (i + 1 == ids.size()) logits = model(x, state).value();
        else model(x, state);
    }
    rng gen(seed);
    std::string out;
    for (std::size_t i = 0; i < length; ++i) {
        std::size_t k = 0;
        if (temperature == 0) {
            for (std::size_t j = 1; j < v.size(); ++j)
                if (logits.flat(j) > logits.flat(k)) k = j;
        } else {
            const auto p = next_char_probs(logits, temperature);
            const double u = gen.uniform();
            double acc = 0;
            for (k = 0; k + 1 < p.size(); ++k) {
                acc += p[k];
                if (u < acc) break;
            }
        }
        out += v.at(k);
        if (i + 1 == length) break;
        t.clear();
        x.set_flat(0, static_cast<double>(k));
        logits = model(x, state).value();
    }
    return out;
}

void save_char_model(const std::string& path, const char_model& model) {
    const auto& v = model.vocab();
    tensor codes = tensor::zeros({v.size()}, dtype::float64);
    for (std::size_t i = 0; i < v.size(); ++i) codes.set_flat(i, static_cast<unsigned char>(v.at(i)));
    const auto num = [](double x) { return tensor::scalar(x, dtype::float64); };
    save_options so;
    so.metadata = {{"charlm", num(1)},
                   {"vocab", codes},
                   {"cell", num(model.options().cell == "lstm" ? 0 : 1)},
                   {"hidden", num(double(model.options().hidden))},
                   {"embed", num(double(model.options().embed))}};
    save_checkpoint(path, model, nullptr, so);
}

namespace {

// One parameter of the char_model a checkpoint's metadata describes: its name, the shape the metadata
// implies, and the metadata keys that shape depends on.
struct expected_array {
    std::string name;
    shape_t shape;
    std::string keys;
};

// Mirrors char_model's constructor (embedding [V, E], one lstm|gru layer with G = 4|3 gates in
// PyTorch's layout, linear head [V, H] + [V]); tests compare it with a built model's parameters.
std::vector<expected_array> expected_arrays(const char_model_options& o, std::size_t V) {
    const std::size_t H = o.hidden, E = o.embed, GH = (o.cell == "lstm" ? 4 : 3) * H;
    const std::string c = o.cell;
    return {{"embed.weight", {V, E}, "meta.vocab, meta.embed"},
            {c + ".weight_ih_l0", {GH, E}, "meta.cell, meta.hidden, meta.embed"},
            {c + ".weight_hh_l0", {GH, H}, "meta.cell, meta.hidden"},
            {c + ".bias_ih_l0", {GH}, "meta.cell, meta.hidden"},
            {c + ".bias_hh_l0", {GH}, "meta.cell, meta.hidden"},
            {"head.weight", {V, H}, "meta.vocab, meta.hidden"},
            {"head.bias", {V}, "meta.vocab"}};
}

}  // namespace

std::vector<std::pair<std::string, shape_t>> char_model_parameter_shapes(const char_model_options& o, std::size_t vocab_size) {
    std::vector<std::pair<std::string, shape_t>> out;
    for (auto& e : expected_arrays(o, vocab_size)) out.emplace_back(e.name, e.shape);
    return out;
}

std::unique_ptr<char_model> load_char_model(const std::string& path, const load_options& options) {
    if (!std::filesystem::exists(path))
        throw checkpoint_io_error("model checkpoint '" + path + "' does not exist (train one with: xgrad generate --train --save " + path + ")");
    const npz_reader file(path);  // headers only; the one pass over the archive
    const auto bad = [&](const std::string& why) {
        return checkpoint_error("'" + path + "' is not an `xgrad generate` (charlm) checkpoint: " + why);
    };
    // Metadata headers first: scalars and a vocabulary of at most 256 codes, so reading them is bounded.
    for (const auto& m : file.members()) {
        if (m.name.rfind(metadata_prefix, 0) != 0) continue;
        const bool vocab = m.name == "meta.vocab";
        if (vocab ? m.shape.size() != 1 || m.shape[0] < 2 || m.shape[0] > 256 : !m.shape.empty())
            throw bad("'" + m.name + "' has shape " + shape_str(m.shape) +
                      (vocab ? "; meta.vocab must hold 2..256 byte codes" : "; it must be a scalar"));
    }
    const auto meta = read_metadata(file);
    const auto find = [&](const std::string& name) -> const tensor* {
        for (auto& [n, t] : meta)
            if (n == name) return &t;
        return nullptr;
    };
    if (!find("charlm") || !find("vocab")) throw bad("it has no meta.charlm / meta.vocab arrays");
    const auto whole = [&](const std::string& name, double lo, double hi) {
        const tensor* t = find(name);
        if (!t || t->dim() != 0) throw bad("meta." + name + " is missing or not a scalar");
        const double x = t->item();
        if (!(x >= lo && x <= hi) || x != std::floor(x)) throw bad("meta." + name + " = " + std::to_string(x) + " is out of range");
        return static_cast<std::size_t>(x);
    };
    if (whole("charlm", 0, 1e9) != 1) throw bad("unknown format version meta.charlm = " + std::to_string(find("charlm")->item()));
    const tensor& codes = *find("vocab");
    std::string chars;
    for (std::size_t i = 0; i < codes.size(); ++i) {
        const double c = codes.flat(i);
        if (!(c >= 0 && c <= 255) || c != std::floor(c)) throw bad("meta.vocab holds " + std::to_string(c) + ", not a byte code");
        chars += static_cast<char>(static_cast<unsigned char>(c));
    }
    vocabulary v;
    try {
        v = vocabulary::from_chars(chars);
    } catch (const argument_error& e) {
        throw bad(e.what());
    }
    char_model_options o;
    o.cell = whole("cell", 0, 1) == 0 ? "lstm" : "gru";
    o.hidden = whole("hidden", 1, 1 << 20);
    o.embed = whole("embed", 1, 1 << 20);
    // The metadata must agree with the stored arrays' headers before the model (whose size the
    // metadata sets) is built: a file cannot make the loader allocate more than it holds.
    const std::string described = "meta.cell = " + o.cell + ", meta.hidden = " + std::to_string(o.hidden) +
                                  ", meta.embed = " + std::to_string(o.embed) + ", meta.vocab of " +
                                  std::to_string(v.size()) + " characters";
    for (const auto& e : expected_arrays(o, v.size())) {
        const std::size_t i = file.find(e.name);
        if (i == npz_reader::npos)
            throw bad("it has no array '" + e.name + "', which its metadata (" + described + ") implies");
        if (file.members()[i].shape != e.shape)
            throw checkpoint_error("checkpoint '" + path + "': its metadata (" + e.keys + ") does not fit the array '" +
                                   e.name + "': " + described + " needs " + shape_str(e.shape) + ", the file holds " +
                                   shape_str(file.members()[i].shape) +
                                   "; the file was edited or damaged: nothing was built (re-save it with xgrad generate --train)");
    }
    auto m = std::make_unique<char_model>(o, std::move(v));
    load_checkpoint(file, *m, nullptr, options);  // every parameter must fit (strict unless options say otherwise)
    return m;
}

}  // namespace xgrad::nn
