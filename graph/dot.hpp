#pragma once
// Graphviz DOT export of a tape: see the unrolled network, its shared weights and its gradients.
//
//   tape t;  ... forward ...  t.backward(loss);
//   dot_options o;  o.root = loss;  o.grad_colors = true;
//   save_graph(t, "unrolled.svg", o);   // renders with Graphviz when `dot` is on PATH, else writes .dot
//
// The output is deterministic: node ids come from tape indices ("n12"), collapsed scopes from
// scope ids ("s3"), nodes and edges are written in tape order, numbers in the C locale. Two dumps of
// the same computation are byte-identical, so a DOT file can be golden-tested and diffed.
//
// What is drawn:
// - one node per tape node. Op nodes (rounded boxes) are labelled with the op's registry name and
//   their output's shape and dtype; value nodes are the leaves: inputs (ellipses), parameters
//   (bold boxes, drawn once at the top level, named, with an edge into every op that uses them)
//   and constants (dashed ellipses). The root (the loss) is a double octagon.
// - scopes as nested clusters: a node recorded under scope("rnn") then scope("t=3") sits in a box
//   labelled "t=3" inside a box labelled "rnn".
// - optional value statistics, gradient statistics and a gradient-flow colouring: every node is
//   filled by log10 of its gradient's L2 norm on a FIXED scale (the same colour means the same
//   magnitude in every picture), shown in the legend.
// - a backward view: the same layout with every edge pointing from an op back to its inputs,
//   labelled with the norm of the gradient that op passes back, ‖∂L/∂y‖ of its output y; except an
//   edge from a parameter p, labelled with that use's own term of ∂L/∂p (graph/contributions.hpp),
//   e.g. ‖δ_t·h_{t-1}ᵀ‖ for W_hh into step t (the terms of BPTT, which sum to ∂L/∂W_hh), and drawn
//   as wide as that norm's bin on the fixed scale (penwidth 0.6 + 0.45·bin). Into a collapsed scope,
//   the norm of the sum of the uses' terms in it.
// - collapse: every scope whose name or path starts with one of the given prefixes ("t=") is drawn
//   as a single node, so a 100-step unroll stays readable.
// graph/ knows no particular op: labels come from node.op_name (the registry name).
#include <array>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "tape.hpp"

namespace xgrad {

enum class dot_view : std::uint8_t { forward, backward };

struct dot_options {
    std::string title;                   // graph label; empty: none
    var root;                            // the loss; undefined: the last node of the tape
    bool only_ancestors = false;         // draw only the nodes the root depends on
    bool value_stats = false;            // values (tiny tensors) or min/mean/max on each node
    bool grad_stats = false;             // ‖g‖ and max|g| on each node that has a gradient
    bool grad_colors = false;            // fill nodes by log10 ‖g‖ on the fixed scale below
    dot_view view = dot_view::forward;   // backward: edges reversed, labelled with ‖∂L/∂y‖ (from a parameter: its term)
    std::vector<std::string> collapse;   // scope name/path prefixes drawn as one node ("t=")
    bool legend = true;
    bool left_to_right = true;           // rankdir=LR: time flows left to right
};

// The fixed gradient colour scale: bin k holds log10 ‖g‖ in [grad_scale_low + k - 1,
// grad_scale_low + k); the first bin is everything below grad_scale_low, the last everything at or
// above grad_scale_low + grad_scale_bins - 2.
inline constexpr int grad_scale_low = -7;
inline constexpr int grad_scale_bins = 10;
const std::array<const char*, grad_scale_bins>& grad_scale_colors();
// The bin of a gradient norm (0 .. grad_scale_bins-1); norm 0 falls in bin 0.
int grad_scale_bin(double norm);

// L2 norm of a tensor (0 for an undefined one).
double l2_norm(const tensor& t);

// Write the tape as a DOT digraph.
void write_dot(const tape& t, std::ostream& os, const dot_options& opt = {});
std::string to_dot(const tape& t, const dot_options& opt = {});

// DOT string escaping: backslash, double quote and newline.
std::string dot_escape(const std::string& s);

struct render_result {
    bool rendered = false;             // true when Graphviz wrote `output`
    std::filesystem::path dot_file;    // the .dot written (always)
    std::filesystem::path output;      // the requested file
    std::string message;               // one line for the user (what was written, how to render)
};

// The full path of Graphviz's `dot` found on PATH, or empty.
std::filesystem::path find_graphviz_dot();

// Render DOT text to `output`. The format comes from the extension (.svg .png .pdf; .dot or .gv
// writes the text only). The DOT text is saved beside it (same stem, .dot); `dot` is run directly
// (argv, no shell). Without Graphviz only the .dot is written and the message says how to render it.
// Throws xgrad::error when a file cannot be written or Graphviz fails.
render_result render_dot(const std::string& dot_text, const std::filesystem::path& output);

// write_dot + render_dot.
render_result save_graph(const tape& t, const std::filesystem::path& output, const dot_options& opt = {});

}  // namespace xgrad
