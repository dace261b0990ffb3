// Built against the installed package: find_package(xgrad), xgrad::xgrad, <xgrad/xgrad.hpp>.
#include <iostream>

#include <xgrad/xgrad.hpp>

int main() {
    xgrad::tape tape;
    xgrad::parameter w(xgrad::randn({3, 2}, 1, xgrad::dtype::float64), "w");
    auto x = xgrad::input(xgrad::randn({4, 3}, 2, xgrad::dtype::float64));
    auto loss = xgrad::mean(xgrad::tanh(xgrad::matmul(x, w)));
    tape.backward(loss);
    const bool ok = w.grad().defined() && xgrad::all_finite(w.grad());
    std::cout << "consumer: loss " << loss.item() << ", gradient " << (ok ? "ok" : "MISSING") << "\n";
    return ok ? 0 : 1;
}
