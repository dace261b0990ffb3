// The tutorial's Keras program, line for line, in C++ with xgrad (docs/tutorial.md puts them side by side):
// SimpleRNN(50, tanh) + Dense(1), Adam(1e-3), MSE, 1000 sequences of 10 steps, batch 32, 20 epochs.
#include <iostream>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

// X ~ U[0,1) [n, steps, 1], y = sum over time [n, 1]
std::pair<tensor, tensor> generate_data(std::size_t steps, std::size_t n, rng& gen) {
    tensor x = rand({n, steps, 1}, gen), y = tensor::zeros({n, 1});
    for (std::size_t i = 0; i < x.size(); ++i) y.set_flat(i / steps, y.flat(i / steps) + x.flat(i));
    return {x, y};
}

struct model : nn::module {
    nn::rnn rnn{{.input_size = 1, .hidden_size = 50, .activation = "tanh",  // Keras initialisers and
                 .biases = nn::bias_layout::keras}};                          // Keras's single bias
    nn::linear dense{50, 1, true, nn::init_style::keras, /*seed*/ 1};
    model() : module("model") { register_module("rnn", rnn); register_module("dense", dense); }
    var operator()(const var& x) { return dense(rnn(x)); }
};

int main() {
    rng gen(0);
    auto [x_train, y_train] = generate_data(10, 1000, gen);
    model m;
    nn::adam opt(m, nn::adam_options::keras());  // lr 0.001, eps 1e-7
    nn::data_loader loader(x_train, y_train, {.batch_size = 32, .shuffle = true});
    tape tape;
    for (int epoch = 1; epoch <= 20; ++epoch) {
        double total = 0;
        int steps = 0;
        for (nn::batch b; loader.next(b); ++steps) {
            tape.clear();
            var loss = mse(m(input(b.x)), input(b.y));
            opt.zero_grad();
            tape.backward(loss);
            opt.step();
            total += loss.item();
        }
        std::cout << "Epoch " << epoch << "/20 - loss: " << total / steps << "\n";
    }
    auto [x_test, y_test] = generate_data(10, 100, gen);
    no_grad eval;
    std::cout << "Test Loss: " << mse(m(input(x_test)), input(y_test)).item() << "\n";
}
