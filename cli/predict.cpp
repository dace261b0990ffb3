// `xgrad predict --load model.npz --data FILE [--out preds.csv]`: the predictions of a model trained with
// `xgrad train --data`, for a file in its training layout (the checkpoint's meta.* arrays say which).
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <xgrad/xgrad.hpp>

#include "commands.hpp"

namespace xgrad::cli {

namespace {

struct predict_config {
    std::string load, data, out;
};

int run_predict(const predict_config& c) {
    auto [model, info] = nn::load_task_model(c.load);
    const bool classify = info.task == nn::task_kind::classify;
    nn::data_read_options ro{.task = info.task, .features = info.features, .window = info.window, .targets_optional = true,
                             .row_inputs = info.steps * info.features, .dt = info.dt};
    const nn::labelled_data d = nn::read_dataset(c.data, ro);
    nn::check_lengths(d, "data file '" + c.data + "'");
    if (d.x.shape()[1] != info.steps || d.x.shape()[2] != info.features)
        throw nn::data_error("data file '" + c.data + "': samples are [T=" + std::to_string(d.x.shape()[1]) + ", F=" +
                             std::to_string(d.x.shape()[2]) + "] but the model '" + c.load + "' was trained on [T=" +
                             std::to_string(info.steps) + ", F=" + std::to_string(info.features) + "]");
    if (classify) nn::check_labels(d, "data file '" + c.data + "'", info.outputs);
    const tensor out = nn::predict_outputs(*model, d.x, 256, d.lengths);
    const std::size_t N = out.shape()[0], K = out.shape()[1];
    std::ostringstream csv;
    csv << std::setprecision(9);
    if (classify) {
        csv << "class";
        for (std::size_t k = 0; k < K; ++k) csv << ",p" << k;
    } else {
        for (std::size_t k = 0; k < K; ++k) csv << (k ? "," : "") << "y" << k;
    }
    csv << "\n";
    for (std::size_t i = 0; i < N; ++i) {
        if (classify) {  // softmax of the logits, shifted by their largest for range
            std::size_t best = 0;
            for (std::size_t k = 1; k < K; ++k)
                if (out.flat(i * K + k) > out.flat(i * K + best)) best = k;
            double z = 0;
            const double top = out.flat(i * K + best);
            for (std::size_t k = 0; k < K; ++k) z += std::exp(out.flat(i * K + k) - top);
            csv << best;
            for (std::size_t k = 0; k < K; ++k) csv << "," << std::exp(out.flat(i * K + k) - top) / z;
        } else {
            for (std::size_t k = 0; k < K; ++k) csv << (k ? "," : "") << out.flat(i * K + k);
        }
        csv << "\n";
    }
    if (c.out.empty()) {
        std::cout << csv.str();
        return 0;
    }
    nn::write_text_file(c.out, csv.str());
    std::cout << "predict: wrote " << N << " predictions to " << c.out << "\n";
    if (d.y.defined()) {
        const nn::task_metrics m = nn::evaluate_task(*model, d, info.task);
        std::cout << "Loss: " << std::setprecision(8) << m.loss << "\n";
        if (classify) std::cout << "Accuracy: " << std::setprecision(6) << m.accuracy << "\n";
    }
    return 0;
}

}  // namespace

command add_predict(CLI::App& app) {
    auto* sub = app.add_subcommand("predict", "Predict with a model trained by `xgrad train --data` (CSV out)");
    auto c = std::make_shared<predict_config>();
    sub->add_option("--load", c->load, "The model checkpoint (.npz from xgrad train --data --save)")->required();
    sub->add_option("--data", c->data, "Inputs in the model's training layout (.npz or CSV; targets optional)")
        ->required()->check(CLI::ExistingFile);
    sub->add_option("--out", c->out, "Write the predictions here (CSV; default: standard output)");
    return [c] { return run_predict(*c); };
}

}  // namespace xgrad::cli
