// `xgrad export --load model.npz --onnx model.onnx`: a checkpoint of `xgrad train` (sequence_regressor)
// or `xgrad generate` (char_model) as an ONNX model (nn/onnx.hpp, docs/onnx.md).
//
// Which model a checkpoint holds: meta.charlm marks a character model (nn::load_char_model rebuilds
// it from its metadata); meta.xgrad_task_model one of `xgrad train --data` (nn::load_task_model rebuilds
// it, activation, layers and directions included); otherwise it is `xgrad train`'s sequence_regressor,
// whose sizes follow from its arrays: "<cell>.weight_ih_l0" [G·hidden, input] (cell rnn, lstm or gru:
// G = 1, 4, 3), "head.weight" [output, hidden·D], one "<cell>.weight_ih_l<l>" per layer, and
// "<cell>.weight_ih_l0_reverse" when bidirectional (D = 2); "<cell>.bias_l0" marks Keras's single bias.
// The rnn activation is not stored there, hence --activation (default tanh, as `xgrad train`).
#include <iostream>
#include <memory>

#include <xgrad/xgrad.hpp>
#ifdef XGRAD_HAVE_ONNX
#include <xgrad/nn/onnx.hpp>
#endif

#include "commands.hpp"

namespace xgrad::cli {

namespace {

struct export_config {
    std::string load, onnx, activation = "tanh";
};

#ifdef XGRAD_HAVE_ONNX
// The sequence_regressor an `xgrad train` checkpoint holds.
std::unique_ptr<nn::sequence_regressor> regressor_for(const std::string& path, const std::string& activation) {
    const auto arrays = nn::read_npz(path);
    auto find = [&](const std::string& name) -> const nn::npz_array* {
        for (const auto& a : arrays)
            if (a.name == name) return &a;
        return nullptr;
    };
    nn::sequence_regressor_options o;
    const nn::npz_array* w_ih = nullptr;
    std::size_t gates = 0;
    for (const auto& [cell, g] : {std::pair<const char*, std::size_t>{"rnn", 1}, {"lstm", 4}, {"gru", 3}})
        if (const auto* a = find(std::string(cell) + ".weight_ih_l0")) {
            o.cell = cell;
            w_ih = a;
            gates = g;
        }
    const nn::npz_array* head = find("head.weight");
    if (!w_ih || !head || w_ih->shape.size() != 2 || head->shape.size() != 2 || w_ih->shape[0] % gates != 0)
        throw nn::checkpoint_error("'" + path + "' is neither an `xgrad train` checkpoint (rnn|lstm|gru.weight_ih_l0 "
                                   "and head.weight) nor an `xgrad generate` one (meta.charlm): nothing to export");
    o.hidden = w_ih->shape[0] / gates;
    while (find(o.cell + ".weight_ih_l" + std::to_string(o.num_layers))) ++o.num_layers;
    o.bidirectional = find(o.cell + ".weight_ih_l0_reverse") != nullptr;
    o.input_size = w_ih->shape[1];
    o.output_size = head->shape[0];
    o.activation = activation;
    o.dt = w_ih->descr == "<f8" ? dtype::float64 : dtype::float32;
    if (find(o.cell + ".bias_l0")) o.biases = nn::bias_layout::keras;  // Keras's single bias (`xgrad train`'s default)
    auto model = std::make_unique<nn::sequence_regressor>(o);
    nn::load_checkpoint(path, *model);  // strict: any other layout is refused with the full report
    return model;
}

int run_export(const export_config& c) {
    bool charlm = false, task = false;
    for (const auto& [name, t] : nn::read_metadata(c.load)) {
        charlm = charlm || name == "charlm";
        task = task || name == "xgrad_task_model";
    }
    nn::onnx_export_info info;
    std::string what;
    if (charlm) {
        const auto model = nn::load_char_model(c.load);
        info = nn::export_onnx(*model, c.onnx);
        what = "char_model (" + model->options().cell + ", hidden " + std::to_string(model->options().hidden) + ")";
    } else {
        const auto model = task ? nn::load_task_model(c.load).first : regressor_for(c.load, c.activation);
        info = nn::export_onnx(*model, c.onnx);
        const auto& o = model->options();
        what = "sequence_regressor (" + o.cell + ", hidden " + std::to_string(o.hidden) +
               (o.num_layers > 1 ? ", " + std::to_string(o.num_layers) + " layers" : "") +
               (o.bidirectional ? ", bidirectional" : "") + ")";
    }
    auto shape = [](const nn::onnx_value_info& v) {
        std::string s = v.name + " " + v.elem_type + " [";
        for (std::size_t i = 0; i < v.dims.size(); ++i) s += (i ? ", " : "") + v.dims[i];
        return s + "]";
    };
    std::cout << "export: " << what << " -> " << c.onnx << ": " << shape(info.input) << " -> " << shape(info.output)
              << ", " << info.nodes << " nodes, " << info.initializers << " initializers (ONNX opset 17)\n";
    return 0;
}
#else
int run_export(const export_config&) {
    throw argument_error("export: this xgrad was built without ONNX support; install libonnx-dev and libprotobuf-dev "
                         "(scripts/install-deps.sh) and configure again");
}
#endif

}  // namespace

command add_export(CLI::App& app) {
    auto* sub = app.add_subcommand("export", "Export a checkpoint of `xgrad train` or `xgrad generate` as an ONNX model");
    auto c = std::make_shared<export_config>();
    sub->add_option("--load", c->load, "checkpoint (.npz) written by `xgrad train --save` or `xgrad generate --save`")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--onnx", c->onnx, "the ONNX file to write (replaced atomically)")->required();
    sub->add_option("--activation", c->activation, "rnn cell only: the activation it was trained with")
        ->check(CLI::IsMember({"tanh", "relu", "sigmoid"}))
        ->capture_default_str();
    return [c] { return run_export(*c); };
}

}  // namespace xgrad::cli
