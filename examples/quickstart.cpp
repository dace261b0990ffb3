// Quickstart: record a graph, run backward, check a gradient, train a tiny model.
//   ./build/examples/quickstart
#include <iostream>

#include <xgrad/xgrad.hpp>

int main() {
    using namespace xgrad;
    set_default_dtype(dtype::float64);

    // 1. A graph and its gradient.
    {
        tape tape;  // the active tape: every op below is recorded on it
        auto x = input(xt::xarray<double>{{0.5, -1.0, 2.0}}, "x");
        parameter W(randn({3, 4}, /*seed*/ 7), "W");
        auto y = tanh(matmul(x, W));
        auto loss = mean(y * y);
        tape.backward(loss);  // W.grad() now holds dloss/dW
        std::cout << "loss = " << loss.item() << "\ndloss/dW =\n" << W.grad() << "\n\n";
    }

    // 2. Check a function's gradient numerically.
    auto report = gradcheck([](std::span<const var> in) { return sigmoid(in[0] * in[1]); },
                            {randn({2, 3}, 1), randn({3}, 2)});
    report.print(std::cout);

    // 3. Fit y = 3x - 1 with plain gradient descent.
    parameter w(tensor::zeros({1, 1}), "w"), b(tensor::zeros({1}), "b");
    rng gen(0);
    tensor xs = rand({64, 1}, gen);
    tensor ys = xs;
    for (std::size_t i = 0; i < ys.size(); ++i) ys.set_flat(i, 3 * xs.flat(i) - 1);
    tape tape;
    for (int step = 0; step <= 200; ++step) {
        tape.clear();  // reuse the tape's memory every step
        auto loss = mse(linear(input(xs), w, b), input(ys));
        w.zero_grad();
        b.zero_grad();
        tape.backward(loss);
        for (parameter p : {w, b})
            for (std::size_t i = 0; i < p.size(); ++i) p.value().set_flat(i, p.value().flat(i) - 0.5 * p.grad().flat(i));
        if (step % 50 == 0) std::cout << "step " << step << "  loss " << loss.item() << "\n";
    }
    std::cout << "w = " << w.value().item() << "  b = " << b.value().item() << "  (true: 3, -1)\n";
}
