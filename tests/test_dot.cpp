// DOT export: golden files, clusters per time step, shared parameters drawn once, collapse,
// gradient colouring, the backward view, rendering with and without Graphviz.
// Set XGRAD_UPDATE_GOLDEN=1 to rewrite tests/data/golden/*.dot after an intended change.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <unistd.h>

#include <xgrad/xgrad.hpp>

using namespace xgrad;
namespace fs = std::filesystem;

namespace {

// A folder for the files these tests write, removed at exit unless XGRAD_KEEP_TEST_FILES is set.
struct temp_folder {
    fs::path path = fs::temp_directory_path() / ("xgrad_test_dot_" + std::to_string(::getpid()));
    ~temp_folder() {
        std::error_code ec;
        if (!std::getenv("XGRAD_KEEP_TEST_FILES")) fs::remove_all(path, ec);
    }
};

fs::path temp_dir() {
    static temp_folder folder;
    fs::create_directories(folder.path);
    return folder.path;
}

std::size_t count(const std::string& s, const std::string& part) {
    std::size_t n = 0;
    for (auto p = s.find(part); p != std::string::npos; p = s.find(part, p + part.size())) ++n;
    return n;
}

std::size_t count_re(const std::string& s, const std::string& re) {
    const std::regex r(re);
    return static_cast<std::size_t>(std::distance(std::sregex_iterator(s.begin(), s.end(), r), std::sregex_iterator()));
}

// Every DOT the tests produce must be accepted by Graphviz (when it is installed).
void check_parses(const std::string& dot, const std::string& name) {
    if (find_graphviz_dot().empty()) {
        MESSAGE("Graphviz's dot is not on PATH: not checking that " << name << " parses");
        return;
    }
    const auto r = render_dot(dot, temp_dir() / (name + ".svg"));
    CHECK(r.rendered);
    CHECK(fs::file_size(r.output) > 100);
}

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void check_golden(const std::string& dot, const std::string& file) {
    const fs::path p = fs::path(XGRAD_TEST_DATA) / "golden" / file;
    if (std::getenv("XGRAD_UPDATE_GOLDEN")) {
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << dot;
        MESSAGE("rewrote " << p.string());
    }
    REQUIRE_MESSAGE(fs::exists(p), "missing golden file " << p.string());
    CHECK(read_file(p) == dot);
}

// A tiny fixed graph: loss = sum(tanh(x·W)) with W under scope "layer".
struct tiny {
    parameter W{tensor(xt::xarray<double>{{0.5, -0.25}, {1.0, 0.75}}), "W"};
    var x, y, loss;
    explicit tiny(bool backward) {
        x = input(tensor(xt::xarray<double>{{1.0, -2.0}}), "x \"in\"");
        {
            scope s("layer");
            y = tanh(matmul(x, W));
        }
        loss = sum(y);
        if (backward) loss.backward();
    }
};

// A tanh/sigmoid Elman RNN unrolled by hand: h_t = act(x_t·W_ihᵀ + b + h_{t-1}·W_hhᵀ), loss = mean(h_T²).
// W_hh is used at every step (h_0 = 0), so its node must fan out into all T steps.
struct unrolled {
    parameter W_ih, W_hh, b;
    var loss;
    std::vector<var> h;
    unrolled(std::size_t steps, const std::string& act = "tanh", std::size_t hidden = 3, std::uint64_t seed = 1)
        : W_ih(randn({hidden, 2}, seed, dtype::float64), "W_ih"),
          W_hh(randn({hidden, hidden}, seed + 1, dtype::float64), "W_hh"),
          b(tensor::zeros({hidden}, dtype::float64), "b") {
        auto x = input(randn({2, steps, 2}, seed + 2, dtype::float64), "x");
        var state = constant(tensor::zeros({2, hidden}, dtype::float64));
        {
            scope r("rnn");
            for (std::size_t t = 0; t < steps; ++t) {
                scope s("t=" + std::to_string(t));
                state = activation(act, linear(select(x, 1, t), W_ih, b) + linear(state, W_hh));
                h.push_back(state);
            }
        }
        loss = mean(state * state);
    }
};

std::string param_id(const std::string& dot, const std::string& name) {
    std::smatch m;
    const std::regex r("\\n\\s*(n[0-9]+) \\[label=\"" + name + "\\\\n");
    REQUIRE(std::regex_search(dot, m, r));
    return m[1];
}

}  // namespace

TEST_CASE("dot: golden file of a tiny graph, forward view") {
    tape t;
    tiny g(false);
    const auto dot = to_dot(t);
    check_golden(dot, "tiny_forward.dot");
    check_parses(dot, "tiny_forward");
}

TEST_CASE("dot: golden file of a tiny graph after backward, with statistics and the backward view") {
    tape t;
    tiny g(true);
    dot_options o;
    o.root = g.loss;
    o.title = "loss = sum(tanh(x W))";
    o.value_stats = o.grad_stats = o.grad_colors = true;
    o.view = dot_view::backward;
    const auto dot = to_dot(t, o);
    check_golden(dot, "tiny_backward.dot");
    check_parses(dot, "tiny_backward");
    CHECK(count(dot, "dir=back") == 1);            // once, as the edge default
    CHECK(count_re(dot, "label=\"[0-9.]+e[-+][0-9]+\"") == 3);  // edges carrying a gradient are labelled
    CHECK(count(dot, "n0 -> n2 [style=dashed") == 1);             // x takes none: dashed
}

TEST_CASE("dot: output is deterministic and escapes quotes and backslashes") {
    std::string first, second;
    {
        tape t;
        tiny g(true);
        first = to_dot(t);
    }
    {
        tape t;
        tiny g(true);
        second = to_dot(t);
    }
    CHECK(first == second);
    CHECK(first.find("x \\\"in\\\"") != std::string::npos);
    CHECK(dot_escape("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
    CHECK(first.find("0x") == std::string::npos);  // no pointer ids
}

TEST_CASE("dot: an unrolled RNN has one cluster per step and one node per parameter fanning out") {
    for (std::size_t steps : {1u, 3u, 6u}) {
        tape t;
        unrolled net(steps);
        const auto dot = to_dot(t);
        CAPTURE(steps);
        CHECK(count(dot, "[label=\"t=") == steps);
        CHECK(count(dot, "[label=\"rnn\"") == 1);
        CHECK(count(dot, "subgraph cluster_") == steps + 2);  // rnn, the steps, the legend
        for (const char* p : {"W_ih", "W_hh", "b"}) CHECK(count(dot, std::string("[label=\"") + p + "\\n") == 1);
        const auto whh = param_id(dot, "W_hh");
        CHECK(count(dot, "  " + whh + " -> ") == steps);
        CHECK(count(dot, "  " + param_id(dot, "W_ih") + " -> ") == steps);
        // parameters sit at the top level, not inside the first step that used them
        const auto rnn_cluster = dot.find("subgraph cluster_");
        CHECK(dot.find(whh + " [label=") < rnn_cluster);
        CHECK(dot.find("doubleoctagon") != std::string::npos);  // the loss
        check_parses(dot, "rnn_" + std::to_string(steps));
    }
}

TEST_CASE("dot: collapsing the time steps draws one node per step and keeps the fan-out") {
    tape t;
    unrolled net(5);
    const auto full = to_dot(t);
    dot_options o;
    o.collapse = {"t="};
    const auto small = to_dot(t, o);
    const std::string node_re = "\\n\\s*[ns][0-9]+ \\[label=";
    CHECK(count_re(small, node_re) < count_re(full, node_re));
    CHECK(count_re(small, "\\n\\s*s[0-9]+ \\[label=\"t=") == 5);
    CHECK(count(small, "[label=\"t=") == 5);  // as nodes now, not clusters
    CHECK(count(small, "subgraph cluster_") == 2);
    CHECK(count(small, "  " + param_id(small, "W_hh") + " -> s") == 5);
    check_parses(small, "rnn_collapsed");

    o.collapse = {"rnn"};  // any scope, by name or path prefix
    const auto whole = to_dot(t, o);
    CHECK(count_re(whole, "\\n\\s*s[0-9]+ \\[label=") == 1);
    check_parses(whole, "rnn_collapsed_whole");
}

TEST_CASE("dot: gradient colouring follows the fixed scale after backward") {
    CHECK(grad_scale_bin(0.0) == 0);
    CHECK(grad_scale_bin(1e-9) == 0);
    CHECK(grad_scale_bin(1e-7) == 1);
    CHECK(grad_scale_bin(0.5) == 7);
    CHECK(grad_scale_bin(1.0) == 8);
    CHECK(grad_scale_bin(1e6) == grad_scale_bins - 1);

    tape t;
    unrolled net(8, "sigmoid");
    dot_options o;
    o.grad_colors = true;
    const auto before = to_dot(t, o);
    for (const char* c : grad_scale_colors()) CHECK(count(before, std::string("fillcolor=\"") + c) == 0);
    t.backward(net.loss);
    const auto after = to_dot(t, o);
    const std::string whh_color = grad_scale_colors()[grad_scale_bin(l2_norm(net.W_hh.grad()))];
    CHECK(after.find("[label=\"W_hh\\n[3, 3] float64\", shape=box, style=\"filled\", color=\"#b45309\", "
                     "penwidth=2.5, fillcolor=\"" + whh_color + "\"") != std::string::npos);
    CHECK(after.find("<table") != std::string::npos);  // the scale in the legend
    // sigmoid: ‖∂L/∂h_t‖ shrinks going back in time, so the first step is paler than the last
    CHECK(grad_scale_bin(l2_norm(net.h.front().grad())) < grad_scale_bin(l2_norm(net.h.back().grad())));
    check_parses(after, "rnn_grads");

    o.grad_stats = true;
    o.view = dot_view::backward;
    o.collapse = {"t="};
    const auto collapsed = to_dot(t, o);
    CHECK(count(collapsed, "max |g| ") == 8);
    check_parses(collapsed, "rnn_grads_collapsed");
}

TEST_CASE("dot: only_ancestors keeps what the root depends on") {
    tape t;
    tiny g(false);
    auto unrelated = exp(g.x);
    dot_options o;
    o.root = g.loss;
    CHECK(to_dot(t, o).find("n" + std::to_string(unrelated.index()) + " ") != std::string::npos);
    o.only_ancestors = true;
    const auto dot = to_dot(t, o);
    CHECK(dot.find("n" + std::to_string(unrelated.index()) + " ") == std::string::npos);
    CHECK(dot.find("doubleoctagon") != std::string::npos);
    check_parses(dot, "ancestors");
}

TEST_CASE("dot: rendering writes the .dot, and says how to render when Graphviz is missing") {
    tape t;
    tiny g(false);
    const auto dir = temp_dir();
    auto r = save_graph(t, dir / "plain.dot");
    CHECK_FALSE(r.rendered);
    CHECK(read_file(dir / "plain.dot") == to_dot(t));
    CHECK_THROWS_AS(save_graph(t, dir / "picture.jpeg"), argument_error);
    CHECK_THROWS_AS(save_graph(t, dir / "no" / "such" / "dir.svg"), xgrad::error);

    const std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "";
    ::setenv("PATH", (dir / "empty").c_str(), 1);
    r = save_graph(t, dir / "missing.svg");
    ::setenv("PATH", saved.c_str(), 1);
    CHECK_FALSE(r.rendered);
    CHECK(fs::exists(dir / "missing.dot"));
    CHECK(r.message.find("dot -Tsvg") != std::string::npos);

    // a name a shell would misread is passed through argv untouched
    if (!find_graphviz_dot().empty()) {
        r = save_graph(t, dir / "a b; touch pwned $(x).png");
        CHECK(r.rendered);
        CHECK(fs::exists(dir / "a b; touch pwned $(x).png"));
        CHECK_FALSE(fs::exists("pwned"));
    }
}
