// Time-series forecasting: predict the next value of a noisy sum of sines from the previous `window`
// values with an LSTM(hidden) + Dense(1); report the test MSE against the naive last-value baseline.
// Usage: timeseries [epochs=20] [points=2000]. Exits 1 unless the model beats its own initial loss.
#include <cmath>
#include <cstdlib>
#include <iostream>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

struct forecaster : nn::module {
    nn::lstm cell{{.input_size = 1, .hidden_size = 32}};
    nn::linear dense{32, 1, true, nn::init_style::keras, /*seed*/ 1};
    forecaster() : module("forecaster") { register_module("lstm", cell); register_module("dense", dense); }
    var operator()(const var& x) { return dense(cell(x)); }
};

int main(int argc, char** argv) {
    const int epochs = argc > 1 ? std::atoi(argv[1]) : 20;
    const std::size_t points = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2000;
    if (epochs < 1 || points < 100) {
        std::cerr << "timeseries: usage: timeseries [epochs >= 1] [points >= 100]\n";
        return 2;
    }
    // s(t) = 0.6 sin(0.1 t) + 0.3 sin(0.37 t + 1) + noise N(0, 0.05²)
    rng gen(0);
    tensor series = tensor::zeros({points});
    for (std::size_t t = 0; t < points; ++t) {
        double v = 0.6 * std::sin(0.1 * t) + 0.3 * std::sin(0.37 * t + 1.0) + 0.05 * gen.normal();
        series.set_flat(t, v);
    }
    series.reshape({points, 1});
    auto w = nn::make_windows(series, {.window = 20});
    auto s = nn::train_test_split(w.x, w.y, {.test_fraction = 0.2, .shuffle = false});  // no look-ahead

    // naive baseline: the next value equals the last one in the window
    const std::size_t n_test = s.x_test.shape()[0];
    const std::size_t win = s.x_test.shape()[1];
    double naive = 0;
    for (std::size_t i = 0; i < n_test; ++i) {
        double d = s.x_test.flat(i * win + win - 1) - s.y_test.flat(i);
        naive += d * d;
    }
    naive /= static_cast<double>(n_test);

    forecaster m;
    nn::adam opt(m, {.lr = 0.005});
    nn::data_loader loader(s.x_train, s.y_train, {.batch_size = 32, .shuffle = true});
    tape tape;
    auto test_mse = [&] {
        no_grad ng;
        tape.clear();
        return mse(m(input(s.x_test)), input(s.y_test)).item();
    };
    const double initial = test_mse();
    for (int epoch = 1; epoch <= epochs; ++epoch) {
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
        std::cout << "Epoch " << epoch << "/" << epochs << " - loss: " << total / steps << "\n";
    }
    const double final_mse = test_mse();
    std::cout << "Test MSE: " << final_mse << " (initial " << initial << ")\n"
              << "Naive last-value MSE: " << naive << "\n"
              << (final_mse < naive ? "model beats" : "model does not beat") << " the naive baseline\n";
    return final_mse < initial ? 0 : 1;
}
