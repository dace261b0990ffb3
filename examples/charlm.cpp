// A small character-level language model: embedding -> LSTM -> linear, cross-entropy, truncated BPTT
// (the state is carried across chunks with detach()), bits per character on held-out text, and
// seeded sampling with a temperature. Usage: charlm [FILE=docs/tutorial.md] [steps=300].
// Exits 1 if the held-out bits per character did not go down.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

struct charlm : nn::module {
    nn::embedding embed;
    nn::lstm cell;
    nn::linear head;
    charlm(std::size_t vocab, std::size_t hidden)
        : module("charlm"), embed(vocab, 16, 1),
          cell({.input_size = 16, .hidden_size = hidden, .return_sequences = true, .seed = 2}),
          head(hidden, vocab, true, nn::init_style::keras, 3) {
        register_module("embed", embed); register_module("lstm", cell); register_module("head", head);
    }
    // idx [B, T] -> logits [B·T, V]; h/c carry the state in and out
    // (a var does not outlive tape.clear(), so the state crosses chunks as tensors: truncated BPTT)
    var operator()(const tensor& idx, std::vector<tensor>& h, std::vector<tensor>& c) {
        std::vector<var> h0, c0;
        if (!h.empty()) { h0 = {input(h[0])}; c0 = {input(c[0])}; }
        var y = cell(embed(input(idx)), h0, c0);
        h = {cell.final_h()[0].value()};
        c = {cell.final_c()[0].value()};
        return reshape(head(y), {idx.size(), head_out()});
    }
    std::size_t head_out() const { return vocab_; }
    std::size_t vocab_ = 0;
};

int main(int argc, char** argv) {
    const std::string file = argc > 1 ? argv[1] : XGRAD_SOURCE_DIR "/docs/tutorial.md";
    const int steps = argc > 2 ? std::atoi(argv[2]) : 300;
    std::ifstream in(file, std::ios::binary);
    if (!in || steps < 1) {
        std::cerr << "charlm: cannot read '" << file << "' (usage: charlm [FILE] [steps >= 1])\n";
        return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    std::map<char, std::size_t> ids;
    std::string chars;
    for (char ch : text) if (!ids.count(ch)) { ids[ch] = 0; }
    for (auto& [ch, id] : ids) { id = chars.size(); chars += ch; }
    const std::size_t V = chars.size(), T = 32, B = 8;
    if (text.size() < 20 * T) { std::cerr << "charlm: '" << file << "' is too short\n"; return 2; }
    const std::size_t split = text.size() * 9 / 10;

    charlm m(V, 64);
    m.vocab_ = V;
    nn::adam opt(m, {.lr = 0.01});
    tape tape;
    // held-out bits per character over the last 10 % (one stream, chunks of T, state carried)
    auto held_out_bpc = [&] {
        no_grad ng;
        std::vector<tensor> h, c;
        double nats = 0;
        std::size_t n = 0;
        for (std::size_t s = split; s + T + 1 <= text.size(); s += T) {
            tape.clear();
            tensor x = tensor::zeros({1, T}), y = tensor::zeros({T});
            for (std::size_t t = 0; t < T; ++t) { x.set_flat(t, ids[text[s + t]]); y.set_flat(t, ids[text[s + t + 1]]); }
            nats += cross_entropy(m(x, h, c), input(y)).item() * T;
            n += T;
        }
        return nats / n / std::log(2.0);
    };
    const double before = held_out_bpc();
    // B parallel streams through the training text; each step trains on the next chunk of T
    std::vector<tensor> h, c;
    const std::size_t stream = (split - 1) / B;
    std::size_t pos = 0;
    for (int step = 1; step <= steps; ++step) {
        if (pos + T >= stream) { pos = 0; h.clear(); c.clear(); }
        tape.clear();
        tensor x = tensor::zeros({B, T}), y = tensor::zeros({B * T});
        for (std::size_t b = 0; b < B; ++b)
            for (std::size_t t = 0; t < T; ++t) {
                x.set_flat(b * T + t, ids[text[b * stream + pos + t]]);
                y.set_flat(b * T + t, ids[text[b * stream + pos + t + 1]]);
            }
        pos += T;
        var loss = cross_entropy(m(x, h, c), input(y));
        opt.zero_grad();
        tape.backward(loss);
        nn::clip_grad_norm(m, 1.0);
        opt.step();
        if (step % 100 == 0) std::cout << "step " << step << " - train bits/char " << loss.item() / std::log(2.0) << "\n";
    }
    const double after = held_out_bpc();
    std::cout << "held-out bits per character: " << before << " -> " << after << "\n";
    // sampling at temperature 0.8, seeded
    rng gen(7);
    no_grad ng;
    std::vector<tensor> sh, sc;
    std::string out = "The ";
    for (std::size_t i = 0; i + 1 < out.size(); ++i) { tape.clear(); tensor x = tensor::full({1, 1}, ids.count(out[i]) ? ids[out[i]] : 0); m(x, sh, sc); }
    for (int i = 0; i < 200; ++i) {
        tape.clear();
        tensor x = tensor::full({1, 1}, ids.count(out.back()) ? ids[out.back()] : 0);
        tensor p = softmax(m(x, sh, sc) * (1.0 / 0.8)).value();
        double u = gen.uniform(), acc = 0;
        std::size_t k = 0;
        for (; k + 1 < V; ++k) { acc += p.flat(k); if (u < acc) break; }
        out += chars[k];
    }
    std::cout << "sample (temperature 0.8): " << out << "\n";
    return after < before ? 0 : 1;
}
