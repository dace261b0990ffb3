#include "models.hpp"

#include "../ops/ops.hpp"

namespace xgrad::nn {

sequence_regressor::sequence_regressor(const sequence_regressor_options& o) : module("sequence_regressor"), o_(o) {
    recurrent_options r{.input_size = o.input_size, .hidden_size = o.hidden, .activation = o.activation,
                              .init = o.init, .seed = o.seed, .dt = o.dt, .fused = o.fused, .textbook = o.textbook,
                              .biases = o.biases};
    r.num_layers = o.num_layers;
    r.bidirectional = o.bidirectional;
    r.dropout = o.dropout;
    r.dropout_seed = o.dropout_seed;
    cell_ = make_recurrent(o.cell, r);
    register_module(o.cell, *cell_);
    // The head reads the cell's last output: [B, hidden], or [B, 2·hidden] = [h_n forward | h_n reverse].
    head_ = std::make_unique<linear>(o.hidden * cell_->directions(), o.output_size, true, o.init, o.seed + 1, o.dt);
    register_module("head", *head_);
}

var sequence_regressor::operator()(const var& x) { return (*head_)(cell_->forward(x, {})); }

var sequence_regressor::operator()(const var& x, const std::vector<std::size_t>& lengths) {
    return (*head_)(cell_->forward(x, {}, lengths));
}

char_model::char_model(const char_model_options& o, vocabulary v) : module("char_model"), o_(o), v_(std::move(v)) {
    if (o_.cell != "lstm" && o_.cell != "gru") throw argument_error("char_model: cell must be lstm or gru, got '" + o_.cell + "'");
    if (o_.hidden == 0 || o_.embed == 0) throw argument_error("char_model: hidden and embed must be positive");
    if (v_.size() < 2) throw argument_error("char_model: the vocabulary needs at least 2 characters");
    embed_ = std::make_unique<embedding>(v_.size(), o_.embed, o_.seed * 3 + 1, dtype::float32);
    register_module("embed", *embed_);
    cell_ = make_recurrent(o_.cell, {.input_size = o_.embed, .hidden_size = o_.hidden, .return_sequences = true,
                                     .seed = o_.seed * 3 + 2, .dt = dtype::float32});
    register_module(o_.cell, *cell_);
    head_ = std::make_unique<linear>(o_.hidden, v_.size(), true, init_style::keras, o_.seed * 3 + 3);
    register_module("head", *head_);
}

var char_model::operator()(const tensor& ids, char_model_state& state) {
    recurrent_base::state initial;
    for (auto& h : state.h) initial.h.push_back(input(h));
    for (auto& c : state.c) initial.c.push_back(input(c));
    const var y = cell_->forward((*embed_)(input(ids)), initial);
    const auto last = cell_->final_state();  // one layer
    state.h = {last.h[0].value()};
    state.c.clear();
    if (!last.c.empty()) state.c = {last.c[0].value()};
    return reshape((*head_)(y), {ids.size(), v_.size()});
}

}  // namespace xgrad::nn
