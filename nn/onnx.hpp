#pragma once
// ONNX export: a module's forward pass as an ONNX model file (opset 17) that onnxruntime runs.
// Lives in the library xgrad_onnx (CMake target xgrad::onnx, built when ONNX and Protobuf are found);
// the core library xgrad knows nothing of ONNX. docs/onnx.md has the whole mapping.
//
//   nn::sequence_regressor model({.cell = "lstm", .hidden = 50});
//   auto info = nn::export_onnx(model, "model.onnx");   // input "x" [batch, time, 1] -> "y" [batch, 1]
//
// Exportable: linear, embedding, rnn (tanh, relu, sigmoid), lstm, gru (any num_layers, with or without
// bias, return_sequences or not, bidirectional or not), sequential chains of those, sequence_regressor and char_model, in
// float32; linear and embedding also in float64 (every parameter of one dtype; onnxruntime's recurrent
// kernels are float32 only, so a float64 recurrent layer is refused). Anything else (another module type, a subclass,
// a plain-function step of a sequential, an activation ONNX's RNN lacks) throws onnx_export_error
// naming the layer; nothing is written.
//
// The graph: batch and time are the named dynamic dimensions "batch" and "time". The input is
//   x   [batch, time, features] (the model's dtype) when a recurrent layer follows, [batch, features]
//       for linear layers alone;
//   ids [batch, time] int64 when the model starts with an embedding (xgrad passes indices as floats).
// The output "y" has the shape xgrad's forward gives, except char_model: logits [batch, time, vocab]
// (xgrad returns the same values flattened to [batch·time, vocab]).
// Every parameter is an initializer under its named_parameters() name with its xgrad value unchanged;
// the gate reordering (LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h) is a Gather node in the graph.
//
// The model is checked with onnx::checker and strict shape inference before it is written; the write is
// atomic like a checkpoint's (nn/npz.hpp): a failure leaves the previous file untouched and throws
// checkpoint_io_error.
#include <cstdint>
#include <string>
#include <vector>

#include "../graph/errors.hpp"
#include "module.hpp"

namespace xgrad::nn {

// The module (or a part of it) cannot be expressed in ONNX, or the exporter built a graph that ONNX's
// checker refuses (a bug: please report it with the message).
struct onnx_export_error : error {
    using error::error;
};

struct onnx_options {
    std::string graph_name;      // empty: the model's type name
    std::string producer = "xgrad";
    // Tests only: write the recurrent weights in PyTorch's gate order (LSTM i,f,g,o; GRU r,z,n) as if it
    // were ONNX's. The file is valid and checks clean but computes something else; the runtime tests
    // use it to prove that a wrong gate order is caught.
    bool wrong_gate_order_for_testing = false;
};

// One graph input or output: its name, element type ("float32", "float64", "int64") and dimensions
// ("batch", "time", or a number).
struct onnx_value_info {
    std::string name, elem_type;
    std::vector<std::string> dims;
};

struct onnx_export_info {
    onnx_value_info input, output;
    std::size_t nodes = 0, initializers = 0;
};

// Export `model`'s forward pass to `path` (see the top of this file).
onnx_export_info export_onnx(const module& model, const std::string& path, const onnx_options& options = {});

}  // namespace xgrad::nn
