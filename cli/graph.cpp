// xgrad graph: draw an unrolled RNN, LSTM or GRU (Graphviz DOT, rendered to SVG/PNG when `dot` is
// installed), optionally after a backward pass, coloured by gradient norm.
#include <iostream>
#include <memory>
#include <string>

#include <xgrad/xgrad.hpp>

#include "commands.hpp"
#include "options.hpp"

namespace xgrad::cli {

namespace {
struct graph_options {
    std::string cell = "rnn";
    std::string activation = "tanh";
    std::size_t steps = 3;
    std::size_t hidden = 4;
    std::size_t input = 2;
    std::size_t batch = 2;
    std::size_t layers = 1;
    std::string init = "keras";
    std::string output = "unrolled.svg";
    std::string view = "forward";
    std::string title;
    bool grads = false;
    bool collapse = false;
    std::vector<std::string> collapse_scopes;
    bool stats = false;
    bool ancestors = true;
    bool fused = false;  // lstm/gru: draw fused cell ops instead of the gates (training uses fused)
    bool textbook = false;  // each step reads x_t and W_ih itself (recurrent_options::textbook)
    std::uint64_t seed = 0;
};

int run_graph(const graph_options& o) {
    nn::recurrent_options ro;
    ro.input_size = o.input;
    ro.hidden_size = o.hidden;
    ro.num_layers = o.layers;
    ro.activation = o.activation;
    ro.init = o.init == "pytorch" ? nn::init_style::pytorch : nn::init_style::keras;
    ro.seed = o.seed;
    ro.dt = dtype::float64;  // tiny sizes; float64 keeps the smallest gradient norms exact
    ro.fused = o.fused;      // gate by gate unless asked: the picture is for reading the cell
    ro.textbook = o.textbook;

    const auto layer = nn::make_recurrent(o.cell, ro);

    tape t;
    rng gen(o.seed + 1);
    auto x = input(randn({o.batch, o.steps, o.input}, gen, ro.dt), "x");
    var y = layer->forward(x, {});
    var target = constant(randn({o.batch, o.hidden}, gen, ro.dt));
    t.at(target.index()).name = "target";
    var loss = mse(y, target);

    const bool backward_view = o.view == "backward";
    dot_options d;
    d.root = loss;
    d.only_ancestors = o.ancestors;
    d.value_stats = o.stats;
    if (o.grads || backward_view) {
        loss.backward();
        d.grad_colors = true;
        d.grad_stats = o.stats;
    }
    d.view = backward_view ? dot_view::backward : dot_view::forward;
    if (o.collapse) d.collapse.push_back("t=");
    for (const auto& s : o.collapse_scopes) d.collapse.push_back(s);
    d.title = !o.title.empty() ? o.title
                               : o.cell + (o.cell == "rnn" ? " (" + o.activation + ")" : std::string()) + ", " +
                                     std::to_string(o.steps) + " steps, hidden " + std::to_string(o.hidden) +
                                     ((o.grads || backward_view) ? ": fill = log10 |dL/dx| after backward" : "");

    const auto r = save_graph(t, o.output, d);
    std::cout << d.title << " (" << t.size() << " tape nodes, loss " << loss.item() << ")\n" << r.message << "\n";
    return 0;
}
}  // namespace

command add_graph(CLI::App& app) {
    auto o = std::make_shared<graph_options>();
    auto* sub = app.add_subcommand("graph", "Draw an unrolled RNN/LSTM/GRU: time steps, shared weights, gradient flow");
    sub->add_option("--cell", o->cell, "Recurrent cell")->check(CLI::IsMember({"rnn", "lstm", "gru"}))->capture_default_str();
    sub->add_option("--activation", o->activation, "Activation of the rnn cell")
        ->check(CLI::IsMember({"tanh", "sigmoid", "relu"}))
        ->capture_default_str();
    whole(*sub, "--steps", o->steps, "Time steps to unroll", 1, 1000);
    whole(*sub, "--hidden", o->hidden, "Hidden size", 1, 4096);
    whole(*sub, "--input", o->input, "Input features per step", 1, 4096);
    whole(*sub, "--batch", o->batch, "Batch size of the random input", 1, 4096);
    whole(*sub, "--layers", o->layers, "Stacked layers", 1, 16);
    sub->add_option("--init", o->init, "Initialiser")->check(CLI::IsMember({"keras", "pytorch"}))->capture_default_str();
    sub->add_option("-o,--output", o->output, "Output file: .svg, .png, .pdf (rendered by Graphviz) or .dot")
        ->capture_default_str();
    sub->add_flag("--grads", o->grads, "Run backward (MSE to a random target) and colour nodes by gradient norm");
    sub->add_option("--view", o->view, "forward, or backward: arrows reversed, labelled with gradient norms")
        ->check(CLI::IsMember({"forward", "backward"}))
        ->capture_default_str();
    sub->add_flag("--fused", o->fused, "lstm/gru: draw each step's cell as the fused ops training records (lstm_state, "
                                       "lstm_output, gru_cell) instead of gate by gate");
    sub->add_flag("--textbook", o->textbook,
                  "Record each step as the tutorial writes it, h_t = act(W_ih x_t + W_hh h_{t-1} + b), with x_t and "
                  "W_ih inside every step (training projects all steps' inputs in one product)");
    sub->add_flag("--collapse", o->collapse, "Draw each time step as one node (for long unrolls)");
    sub->add_option("--collapse-scope", o->collapse_scopes, "Also collapse scopes whose name or path starts with this");
    sub->add_flag("--stats", o->stats, "Show value (and gradient) statistics on every node");
    auto all_nodes = std::make_shared<bool>(false);  // a plain flag: "!--all-nodes" showed as "--all-nodes{false}" in --help
    sub->add_flag("--all-nodes", *all_nodes, "Draw every tape node, not only those the loss depends on");
    sub->add_option("--title", o->title, "Title of the picture");
    seed(*sub, o->seed, "Seed for the weights and the random batch");
    return [o, all_nodes]() {
        if (*all_nodes) o->ancestors = false;
        return run_graph(*o);
    };
}

}  // namespace xgrad::cli
