#include "models.hpp"

namespace xgrad::nn {

sequence_regressor::sequence_regressor(const sequence_regressor_options& o) : module("sequence_regressor"), o_(o) {
    const recurrent_options r{.input_size = o.input_size, .hidden_size = o.hidden, .activation = o.activation,
                              .init = o.init, .seed = o.seed, .dt = o.dt, .fused = o.fused};
    cell_ = make_recurrent(o.cell, r);
    register_module(o.cell, *cell_);
    head_ = std::make_unique<linear>(o.hidden, o.output_size, true, o.init, o.seed + 1, o.dt);
    register_module("head", *head_);
}

var sequence_regressor::operator()(const var& x) { return (*head_)(cell_->forward(x, {})); }

}  // namespace xgrad::nn
