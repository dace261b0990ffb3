#pragma once
// The workload of the training-step benchmarks: `xgrad bench` times it (cli/bench.cpp) and
// xgrad_bench_allocs counts its heap allocations (bench/allocations.cpp). It is the library's own
// model, nn::sequence_regressor with PyTorch's initialisation (seed 42), trained with nn::adam
// (PyTorch's defaults) by MSE on one fixed random batch x [batch, steps, 1] -> y [batch, 1].
#include <functional>
#include <string>

#include <xgrad/xgrad.hpp>

namespace xgrad::bench {

struct workload_config {
    std::string cell = "rnn";  // rnn | lstm | gru
    std::size_t hidden = 50, steps = 10, batch = 32;
    dtype dt = dtype::float32;
    int threads = 1;    // BLAS threads (the benchmark sets them)
    bool fused = true;  // lstm/gru: fused cell ops, or gate by gate
};

class training_workload {
public:
    explicit training_workload(const workload_config& c)
        : model_({.cell = c.cell, .hidden = c.hidden, .init = nn::init_style::pytorch, .seed = 42, .dt = c.dt,
                  .fused = c.fused}),
          opt_(model_),
          x_(randn({c.batch, c.steps, 1}, 7, c.dt)),
          y_(randn({c.batch, 1}, 8, c.dt)) {}

    // One training step on the workload's own tape: zero_grad, forward, backward, Adam.
    void step() {
        tape_.clear();
        opt_.zero_grad();
        var loss = mse(model_(constant(x_)), constant(y_));
        loss.backward();
        if (after_backward) after_backward();  // e.g. data_parallel::finish under mpirun
        opt_.step();
    }
    const nn::sequence_regressor& model() const { return model_; }
    std::function<void()> after_backward;

private:
    tape tape_;  // first: active while the rest is built and used
    nn::sequence_regressor model_;
    nn::adam opt_;
    tensor x_, y_;
};

}  // namespace xgrad::bench
