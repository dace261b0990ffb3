// The README's opening example, verbatim between the markers: it must compile and do what it says.
#include <doctest/doctest.h>

#include <sstream>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

TEST_CASE("the README's RNN: unrolled on the tape, BPTT summed by backward, drawn as DOT") {
    std::ostringstream unrolled_dot;
    // (README begins)
    tape tape;
    parameter W_xh(randn({1, 8}, 1), "W_xh"), W_hh(randn({8, 8}, 2), "W_hh"), W_hy(randn({8, 1}, 3), "W_hy");
    var xs = input(rand({4, 3, 1}, 4), "x");                 // 4 sequences of 3 steps, one feature
    var h = full({4, 8}, 0.0, dtype::float32);              // h_0 = 0
    for (std::size_t t = 0; t < 3; ++t) {                   // an ordinary loop over time steps
        scope step("t=" + std::to_string(t));
        h = tanh(matmul(select(xs, 1, t), W_xh) + matmul(h, W_hh));
    }
    var loss = mean(square(matmul(h, W_hy)));
    tape.backward(loss);                    // W_hh.grad() = Σ_t ∂L/∂W_hh at step t: BPTT, never written
    write_dot(tape, unrolled_dot);          // the network unrolled over time, W_hh drawn once
    // (README ends)
    CHECK(W_hh.grad().shape() == shape_t{8, 8});
    CHECK(std::isfinite(loss.item()));
    const std::string dot = unrolled_dot.str();
    for (const char* t : {"t=0", "t=1", "t=2"}) CHECK(dot.find(t) != std::string::npos);
    CHECK(dot.find("W_hh") != std::string::npos);
}
