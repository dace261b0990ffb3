#include "charlm.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace xgrad::cli {

// ---- vocabulary and text ----

vocabulary::vocabulary(const std::string& text) {
    std::array<bool, 256> seen{};
    for (char c : text) seen[static_cast<unsigned char>(c)] = true;
    std::string chars;
    for (int b = 0; b < 256; ++b)
        if (seen[b]) chars += static_cast<char>(b);
    *this = from_chars(chars);
}

vocabulary vocabulary::from_chars(const std::string& chars) {
    vocabulary v;
    for (char c : chars) {
        if (v.contains(c)) throw argument_error("vocabulary: character " + describe_char(c) + " appears twice");
        v.ids_[static_cast<unsigned char>(c)] = static_cast<int>(v.chars_.size());
        v.chars_ += c;
    }
    return v;
}

std::size_t vocabulary::id(char c) const {
    const int i = ids_[static_cast<unsigned char>(c)];
    if (i < 0)
        throw argument_error("character " + describe_char(c) + " is not in the model's vocabulary of " +
                             std::to_string(size()) + " characters");
    return static_cast<std::size_t>(i);
}

std::vector<std::size_t> vocabulary::encode(const std::string& text, std::size_t* dropped) const {
    std::vector<std::size_t> out;
    out.reserve(text.size());
    for (char c : text) {
        if (contains(c))
            out.push_back(id(c));
        else if (dropped)
            ++*dropped;
        else
            id(c);  // throws
    }
    return out;
}

std::string describe_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') return "'\\n'";
    if (c == '\t') return "'\\t'";
    if (c == '\r') return "'\\r'";
    if (u >= 32 && u < 127) return std::string("'") + c + "'";
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", u);
    return buf;
}

std::string read_corpus(const std::vector<std::string>& files) {
    if (files.empty()) throw argument_error("no text files given");
    std::string text;
    for (const auto& f : files) {
        if (std::filesystem::is_directory(f))
            throw argument_error("'" + f + "' is a directory; give text files (e.g. " + f + "/*.md)");
        std::ifstream in(f, std::ios::binary);
        if (!in) throw argument_error("cannot read the text file '" + f + "' (does it exist and is it readable?)");
        std::stringstream ss;
        ss << in.rdbuf();
        if (in.bad()) throw argument_error("cannot read the text file '" + f + "'");
        std::string s = ss.str();
        if (s.empty()) throw argument_error("the text file '" + f + "' is empty; give a file with text in it");
        text += s;
    }
    const vocabulary v(text);
    if (v.size() < 2)
        throw argument_error("the text (" + std::to_string(text.size()) + " bytes) has " + std::to_string(v.size()) +
                             " distinct character(s); a language model needs at least 2");
    return text;
}

std::vector<std::string> default_corpus_files(const std::string& docs_dir) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(docs_dir, ec))
        if (e.is_regular_file() && e.path().extension() == ".md") files.push_back(e.path().string());
    if (ec || files.empty())
        throw argument_error("no docs/*.md found in '" + docs_dir + "' (the default corpus); give text files: --train FILE...");
    std::sort(files.begin(), files.end());
    return files;
}

corpus split_corpus(const std::string& text, double held_out) {
    if (!(held_out > 0 && held_out < 1)) throw argument_error("held-out fraction must be in (0, 1), got " + std::to_string(held_out));
    corpus c{vocabulary(text), {}, {}};
    const auto ids = c.vocab.encode(text);
    const auto split = static_cast<std::size_t>(std::llround(double(ids.size()) * (1 - held_out)));
    c.train.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(split));
    c.held_out.assign(ids.begin() + static_cast<std::ptrdiff_t>(split), ids.end());
    return c;
}

// ---- the model ----

char_model::char_model(const charlm_options& o, vocabulary v) : module("char_model"), o_(o), v_(std::move(v)) {
    if (o_.cell != "lstm" && o_.cell != "gru") throw argument_error("char_model: cell must be lstm or gru, got '" + o_.cell + "'");
    if (o_.hidden == 0 || o_.embed == 0) throw argument_error("char_model: hidden and embed must be positive");
    if (v_.size() < 2) throw argument_error("char_model: the vocabulary needs at least 2 characters");
    embed_ = std::make_unique<nn::embedding>(v_.size(), o_.embed, o_.seed * 3 + 1, dtype::float32);
    register_module("embed", *embed_);
    const nn::recurrent_options ro{.input_size = o_.embed, .hidden_size = o_.hidden, .return_sequences = true,
                                   .seed = o_.seed * 3 + 2, .dt = dtype::float32};
    if (o_.cell == "lstm") {
        lstm_ = std::make_unique<nn::lstm>(ro);
        register_module("lstm", *lstm_);
    } else {
        gru_ = std::make_unique<nn::gru>(ro);
        register_module("gru", *gru_);
    }
    head_ = std::make_unique<nn::linear>(o_.hidden, v_.size(), true, nn::init_style::keras, o_.seed * 3 + 3);
    register_module("head", *head_);
}

var char_model::operator()(const tensor& ids, charlm_state& state) {
    // a var does not outlive tape.clear(), so the state crosses calls as tensors (truncated BPTT)
    std::vector<var> h0, c0;
    for (auto& h : state.h) h0.push_back(input(h));
    for (auto& c : state.c) c0.push_back(input(c));
    const var x = (*embed_)(input(ids));
    var y;
    if (lstm_) {
        y = (*lstm_)(x, h0, c0);
        state.h = {lstm_->final_h()[0].value()};
        state.c = {lstm_->final_c()[0].value()};
    } else {
        y = (*gru_)(x, h0);
        state.h = {gru_->final_h()[0].value()};
        state.c.clear();
    }
    return reshape((*head_)(y), {ids.size(), v_.size()});
}

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
    charlm_state state;
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

charlm_train_result train_charlm(char_model& model, const std::vector<std::size_t>& train,
                                 const std::vector<std::size_t>& held_out, const charlm_train_options& o,
                                 const std::function<void(const charlm_progress&)>& on_step) {
    if (o.seq == 0 || o.batch == 0) throw argument_error("train_charlm: seq and batch must be positive");
    if (train.size() < o.batch * (o.seq + 1))
        throw argument_error("the training text has " + std::to_string(train.size()) + " characters; --batch " +
                             std::to_string(o.batch) + " x (--seq " + std::to_string(o.seq) + " + 1) = " +
                             std::to_string(o.batch * (o.seq + 1)) + " are needed: give more text or lower --batch/--seq");
    const auto t0 = std::chrono::steady_clock::now();
    charlm_train_result r;
    r.initial_bpc = bits_per_char(model, held_out, o.seq);
    nn::adam opt(model, {.lr = o.lr});
    const std::size_t every = o.eval_every ? o.eval_every : std::max<std::size_t>(1, o.steps / 10);
    // stream b reads train[b·L .. (b+1)·L]; L - 1 predictions per stream and epoch
    const std::size_t L = train.size() / o.batch;
    std::size_t pos = 0;
    charlm_state state;
    tape t;
    tensor x = tensor::zeros({o.batch, o.seq}), y = tensor::zeros({o.batch * o.seq});
    double loss_sum = 0;
    std::size_t loss_n = 0;
    for (std::size_t step = 1; step <= o.steps; ++step) {
        if (pos + o.seq + 1 > L) {  // a new pass over the text: streams restart from a zero state
            pos = 0;
            state.reset();
        }
        for (std::size_t b = 0; b < o.batch; ++b) fill_chunk(train, b * L + pos, o.seq, b, x, y);
        pos += o.seq;
        t.clear();
        var loss = cross_entropy(model(x, state), input(y));
        opt.zero_grad();
        t.backward(loss);
        if (o.clip > 0) nn::clip_grad_norm(model, o.clip);
        opt.step();
        const double l = loss.item();
        loss_sum += l;
        ++loss_n;
        charlm_progress p{step, o.steps, l, std::numeric_limits<double>::quiet_NaN(), seconds_since(t0), false};
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
    charlm_state state;
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

// ---- checkpoints ----

void save_charlm(const std::string& path, const char_model& model) {
    const auto& v = model.vocab();
    tensor codes = tensor::zeros({v.size()}, dtype::float64);
    for (std::size_t i = 0; i < v.size(); ++i) codes.set_flat(i, static_cast<unsigned char>(v.at(i)));
    const auto num = [](double x) { return tensor::scalar(x, dtype::float64); };
    nn::save_options so;
    so.metadata = {{"charlm", num(1)},
                   {"vocab", codes},
                   {"cell", num(model.options().cell == "lstm" ? 0 : 1)},
                   {"hidden", num(double(model.options().hidden))},
                   {"embed", num(double(model.options().embed))}};
    nn::save_checkpoint(path, model, nullptr, so);
}

std::unique_ptr<char_model> load_charlm(const std::string& path) {
    if (!std::filesystem::exists(path))
        throw nn::checkpoint_io_error("model checkpoint '" + path + "' does not exist (train one with: xgrad generate --train --save " + path + ")");
    const auto meta = nn::read_metadata(path);
    const auto find = [&](const std::string& name) -> const tensor* {
        for (auto& [n, t] : meta)
            if (n == name) return &t;
        return nullptr;
    };
    const auto bad = [&](const std::string& why) {
        return nn::checkpoint_error("'" + path + "' is not an `xgrad generate` (charlm) checkpoint: " + why);
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
    if (codes.dim() != 1 || codes.size() < 2 || codes.size() > 256) throw bad("meta.vocab must hold 2..256 byte codes");
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
    charlm_options o;
    o.cell = whole("cell", 0, 1) == 0 ? "lstm" : "gru";
    o.hidden = whole("hidden", 1, 1 << 20);
    o.embed = whole("embed", 1, 1 << 20);
    auto m = std::make_unique<char_model>(o, std::move(v));
    nn::load_checkpoint(path, *m);  // strict: every parameter must fit
    return m;
}

}  // namespace xgrad::cli
