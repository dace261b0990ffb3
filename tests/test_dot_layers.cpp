// DOT export of the nn recurrent layers: one cluster per time step, every parameter drawn once,
// weight_hh fanning out into every step; and the example of docs/graphs.md.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

namespace {

std::size_t count(const std::string& s, const std::string& part) {
    std::size_t n = 0;
    for (auto p = s.find(part); p != std::string::npos; p = s.find(part, p + part.size())) ++n;
    return n;
}

std::string id_of_parameter(const std::string& dot, const std::string& name) {
    std::smatch m;
    const std::regex r("\\n\\s*(n[0-9]+) \\[label=\"" + name + "\\\\n");
    REQUIRE_MESSAGE(std::regex_search(dot, m, r), "no node for parameter " << name);
    return m[1];
}

void check_parses(const std::string& dot) {
    if (find_graphviz_dot().empty()) {
        MESSAGE("Graphviz's dot is not on PATH: not checking that the DOT parses");
        return;
    }
    const auto file = std::filesystem::temp_directory_path() / ("xgrad_test_dot_layers_" + std::to_string(::getpid()) + ".svg");
    const auto r = render_dot(dot, file);
    CHECK(r.rendered);
    std::filesystem::remove(r.output);
    std::filesystem::remove(r.dot_file);
}

template <class Layer>
std::string unroll(std::size_t steps, nn::recurrent_options o, bool backward) {
    o.dt = dtype::float64;
    Layer layer(o);
    tape t;
    var x = input(randn({2, steps, o.input_size}, 3, dtype::float64), "x");
    var loss = mean(square(layer(x)));
    if (backward) loss.backward();
    dot_options d;
    d.root = loss;
    d.grad_colors = backward;
    return to_dot(t, d);
}

}  // namespace

TEST_CASE_TEMPLATE("dot: nn recurrent layers unroll into one cluster per step, weights drawn once", Layer, nn::rnn,
                   nn::lstm, nn::gru) {
    for (std::size_t steps : {1u, 4u}) {
        CAPTURE(steps);
        nn::recurrent_options o;
        o.input_size = 2;
        o.hidden_size = 3;
        const auto dot = unroll<Layer>(steps, o, true);
        CHECK(count(dot, "[label=\"t=") == steps);
        for (const char* p : {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"})
            CHECK(count(dot, std::string("[label=\"") + p + "\\n") == 1);
        // the recurrent weight is used once per step (h_0 = 0 included)
        CHECK(count(dot, "  " + id_of_parameter(dot, "weight_hh_l0") + " -> ") == steps);
        CHECK(dot.find("<table") != std::string::npos);
        check_parses(dot);
    }
}

TEST_CASE("dot: two stacked layers nest the steps inside l=0 and l=1") {
    nn::recurrent_options o;
    o.input_size = 2;
    o.hidden_size = 3;
    o.num_layers = 2;
    const auto dot = unroll<nn::gru>(3, o, false);
    CHECK(count(dot, "[label=\"t=") == 6);
    CHECK(count(dot, "[label=\"l=") == 2);
    CHECK(count(dot, "  " + id_of_parameter(dot, "weight_hh_l1") + " -> ") == 3);
    check_parses(dot);
}

// The backward view of a 3-step tanh rnn: each edge from weight_hh_l0 into step t carries that step's
// term ‖δ_t·h_{t-1}ᵀ‖ (0 at t = 0, h_{-1} = 0), read from the tape; compared with a golden file and with
// nn::step_terms. Set XGRAD_UPDATE_GOLDEN=1 to rewrite the golden file after an intended change.
TEST_CASE("dot: golden backward view of an rnn, weight edges labelled with each step's BPTT term") {
    for (bool textbook : {false, true}) {
        CAPTURE(textbook);
        nn::rnn layer({.input_size = 1, .hidden_size = 2, .seed = 4, .dt = dtype::float64, .textbook = textbook});
        tape t;
        var loss = mean(square(layer(input(randn({1, 3, 1}, 2, dtype::float64), "x"))));
        loss.backward();
        dot_options d;
        d.root = loss;
        d.only_ancestors = true;
        d.grad_colors = true;
        d.legend = false;
        d.view = dot_view::backward;
        d.collapse = {"t=2"};  // a collapsed step: its edge carries the sum of the step's terms
        const std::string dot = to_dot(t, d);
        const auto file = std::filesystem::path(XGRAD_TEST_DATA) / "golden" /
                          (textbook ? "rnn_terms_textbook.dot" : "rnn_terms_backward.dot");
        if (std::getenv("XGRAD_UPDATE_GOLDEN")) std::ofstream(file, std::ios::binary) << dot;
        std::ifstream f(file, std::ios::binary);
        std::stringstream want;
        want << f.rdbuf();
        CHECK(want.str() == dot);
        for (const auto* w : {&layer.layer(0).w_hh, &layer.layer(0).w_ih}) {
            const std::string id = id_of_parameter(dot, w->name());
            const auto terms = layer.step_terms(*w);
            std::size_t labelled = 0;
            for (std::size_t k = 0; k < terms.size(); ++k) {
                char label[32];
                std::snprintf(label, sizeof label, "%.2e", l2_norm(terms[k]));
                const std::string text = std::regex_replace(std::string(label), std::regex("[.+]"), "\\$&");
                const std::regex edge("\\n  " + id + " -> [ns][0-9]+ \\[label=\"" + text + "\"");
                labelled += std::regex_search(dot, edge);
            }
            // training: W_ih is read once, by the projection of all steps, so one edge (its whole term)
            CHECK(labelled >= (textbook || w == &layer.layer(0).w_hh ? 3u : 0u));
        }
        CHECK(dot.find("label=\"0.00e+00\", color=\"#ffffcc\", penwidth=0.6") != std::string::npos);  // t = 0
        check_parses(dot);
    }
}

TEST_CASE("dot: the docs/graphs.md example") {
    const auto dir = std::filesystem::temp_directory_path() / ("xgrad_docs_graphs_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ostringstream out;
    {
        // --- as in docs/graphs.md (std::cout -> out, "rnn.svg" -> dir / "rnn.svg")
        tape t;
        nn::rnn cell({.input_size = 2, .hidden_size = 4});
        var x = input(randn({2, 3, 2}, 1), "x");  // [batch, time, input]
        var loss = mean(square(cell(x)));
        loss.backward();

        dot_options o;
        o.root = loss;         // drawn as the loss (default: the tape's last node)
        o.grad_colors = true;  // fill = log10 of the gradient norm
        render_result r = save_graph(t, dir / "rnn.svg", o);
        out << r.message << "\n";
        CHECK(std::filesystem::exists(dir / "rnn.dot"));
        CHECK(r.rendered == !find_graphviz_dot().empty());
    }
    CHECK(out.str().find("rnn.") != std::string::npos);
    std::filesystem::remove_all(dir);
}
