#pragma once
// Internal to the DOT writer (graph/dot.cpp): node styles by kind, and the legend.
#include <iosfwd>

#include "dot.hpp"

namespace xgrad::detail {

// Fill colours by node_kind (input, constant, parameter, op), of the loss and of a collapsed scope.
extern const char* const kind_fill[4];
extern const char* const loss_fill;
extern const char* const collapsed_fill;
// Shape, outline and pen of each kind (the fill is written separately).
const char* kind_style(node_kind k);
extern const char* const loss_style;
extern const char* const collapsed_style;

// The legend cluster: one row of sample nodes and, with gradients, the colour scale.
void write_dot_legend(std::ostream& os, const dot_options& o);

}  // namespace xgrad::detail
