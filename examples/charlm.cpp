// A small character-level language model with the library's nn::char_model and nn/char_lm.hpp (the
// code behind `xgrad generate`):
// embedding(16) -> LSTM(64) -> linear, cross-entropy, truncated BPTT (the state is carried across
// chunks as values), bits per character on the held-out last 10 %, and seeded sampling at
// temperature 0.8. Usage: charlm [FILE=docs/tutorial.md] [steps=300].
// Exits 1 if the held-out bits per character did not go down, 2 on bad input.
#include <cstdlib>
#include <iostream>
#include <string>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

int main(int argc, char** argv) {
    const std::string file = argc > 1 ? argv[1] : XGRAD_SOURCE_DIR "/docs/tutorial.md";
    const int steps = argc > 2 ? std::atoi(argv[2]) : 300;
    if (steps < 1) {
        std::cerr << "charlm: steps must be >= 1, got '" << argv[2] << "' (usage: charlm [FILE] [steps])\n";
        return 2;
    }
    try {
        const auto data = nn::split_corpus(nn::read_corpus({file}));  // clear errors for bad files
        nn::char_model model({.cell = "lstm", .hidden = 64, .embed = 16, .seed = 0}, data.vocab);
        const nn::char_train_options options{.seq = 32, .batch = 8, .steps = std::size_t(steps), .lr = 0.01, .clip = 1.0,
                                             .eval_every = 100};
        const auto r = nn::train_char_model(model, data.train, data.held_out, options, [](const nn::char_train_progress& p) {
            if (p.evaluated) std::cout << "step " << p.step << " - held-out bits/char " << p.held_out_bpc << "\n";
        });
        std::cout << "held-out bits per character: " << r.initial_bpc << " -> " << r.final_bpc << "\n";
        std::cout << "sample (temperature 0.8): The " << nn::sample(model, "The ", 200, 0.8, 7) << "\n";
        return r.final_bpc < r.initial_bpc ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "charlm: " << e.what() << " (usage: charlm [FILE] [steps])\n";
        return 2;
    }
}
