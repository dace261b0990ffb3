// DOT export of the nn recurrent layers: one cluster per time step, every parameter drawn once,
// weight_hh fanning out into every step; and the example of docs/graphs.md.
#include <doctest/doctest.h>

#include <filesystem>
#include <regex>

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
