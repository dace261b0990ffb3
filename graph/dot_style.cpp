// Styles of the DOT writer, its legend and the fixed gradient colour scale.
#include "dot_style.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>

namespace xgrad {

namespace detail {

const char* const kind_fill[4] = {"#dbeafe", "#f3f4f6", "#fef3c7", "#f3f4f6"};  // by node_kind
const char* const loss_fill = "#fecaca";
const char* const collapsed_fill = "#e5e7eb";

// Node and edge attributes for each kind (the fill is added separately).
const char* kind_style(node_kind k) {
    switch (k) {
        case node_kind::input: return "shape=ellipse, style=filled, color=\"#1d4ed8\"";
        case node_kind::constant: return "shape=ellipse, style=\"filled,dashed\", color=\"#6b7280\"";
        case node_kind::parameter: return "shape=box, style=\"filled\", color=\"#b45309\", penwidth=2.5";
        case node_kind::op: return "shape=box, style=\"rounded,filled\", color=\"#4b5563\"";
    }
    return "";
}
const char* const loss_style = "shape=doubleoctagon, style=filled, color=\"#b91c1c\", penwidth=1.5";
const char* const collapsed_style = "shape=box3d, style=filled, color=\"#374151\"";

namespace {
std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}
}  // namespace

void write_dot_legend(std::ostream& os, const dot_options& o_) {
    os << "  subgraph cluster_legend {\n";
    os << "    graph [label=\"legend\", style=\"rounded\", color=\"#cbd5e1\", fontsize=12, labeljust=l];\n";
    const char* const names[] = {"input", "constant", "parameter (shared)", "op: name, output shape"};
    for (int k : {0, 3, 2, 1})
        os << "    legend_" << k << " [label=\"" << names[k] << "\", " << kind_style(static_cast<node_kind>(k))
           << ", fillcolor=\"" << (o_.grad_colors ? "#ffffff" : kind_fill[k]) << "\"];\n";
    os << "    legend_loss [label=\"loss (root)\", " << loss_style << ", fillcolor=\""
       << (o_.grad_colors ? "#ffffff" : loss_fill) << "\"];\n";
    if (!o_.collapse.empty())
        os << "    legend_collapsed [label=\"collapsed scope\", " << collapsed_style << ", fillcolor=\""
           << (o_.grad_colors ? "#ffffff" : collapsed_fill) << "\"];\n";
    if (o_.grad_colors || o_.view == dot_view::backward) {
        os << "    legend_scale [shape=plaintext, label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\" "
              "cellpadding=\"3\"><tr><td colspan=\""
           << grad_scale_bins << "\">"
           << (o_.view == dot_view::backward ? "backward view: arrows carry dL/dy back to the inputs; from a parameter W,<br/>"
                                                 "that use's term of dL/dW (label and width)<br/>" : "")
           << "fill: gradient norm |dL/dx| (fixed log10 scale; white: no gradient)</td></tr><tr>";
        for (int b = 0; b < grad_scale_bins; ++b) {
            std::string text;
            const int e = grad_scale_low + b - 1;
            if (b == 0)
                text = "&lt;1e" + std::to_string(grad_scale_low);
            else if (b == grad_scale_bins - 1)
                text = "&gt;=" + num(std::pow(10.0, e));
            else
                text = e < -2 ? "1e" + std::to_string(e) : num(std::pow(10.0, e));
            os << "<td bgcolor=\"" << grad_scale_colors()[static_cast<std::size_t>(b)] << "\">"
               << (b >= 6 ? "<font color=\"#ffffff\">" + text + "</font>" : text) << "</td>";
        }
        os << "</tr></table>>];\n";
    }
    // a row, read left to right
    os << "    legend_0 -> legend_3 -> legend_2 -> legend_1 -> legend_loss";
    if (!o_.collapse.empty()) os << " -> legend_collapsed";
    if (o_.grad_colors || o_.view == dot_view::backward) os << " -> legend_scale";
    os << " [style=invis];\n";
    os << "  }\n";
}

}  // namespace detail

const std::array<const char*, grad_scale_bins>& grad_scale_colors() {
    // Pale (faded, vanishing) to dark red (large, exploding): ColorBrewer YlOrRd, extended by one.
    static const std::array<const char*, grad_scale_bins> colors{"#ffffcc", "#ffeda0", "#fed976", "#feb24c",
                                                                 "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026",
                                                                 "#800026", "#4d0019"};
    return colors;
}

int grad_scale_bin(double norm) {
    if (!(norm > 0)) return std::isnan(norm) ? grad_scale_bins - 1 : 0;
    const double e = std::floor(std::log10(norm)) - grad_scale_low + 1;
    return static_cast<int>(std::clamp(e, 0.0, static_cast<double>(grad_scale_bins - 1)));
}

}  // namespace xgrad
