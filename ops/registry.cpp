#include "registry.hpp"

#include "kernels.hpp"

namespace xgrad {

std::optional<op> find_op(std::string_view name) {
    for (const auto& e : op_table)
        if (e.name == name) return e.id;
    return std::nullopt;
}

const char* family_name(family f) {
    switch (f) {
        case family::arithmetic: return "arithmetic";
        case family::reduction: return "reduction";
        case family::linalg: return "linalg";
        case family::shape: return "shape";
        case family::activation: return "activation";
        case family::cell: return "cell";
        case family::loss: return "loss";
    }
    return "?";
}

std::string op_table_markdown() {
    std::string s =
        "# Ops\n\n"
        "Generated from the op registry (`ops/registry.hpp`) by `xgrad ops --markdown`; a test keeps this page equal "
        "to the registry.\nEvery op below is gradient-checked in float64 by `xgrad check` and by the test suite.\n\n"
        "| op | family | inputs | forward and backward |\n|---|---|---|---|\n";
    for (const auto& e : op_table) {
        std::string arity = std::to_string(e.min_arity);
        if (e.max_arity < 0) arity += "+";
        else if (e.max_arity != e.min_arity)
            arity.append(1, '-').append(std::to_string(e.max_arity));  // (not "-" + ...: GCC 12 -Wrestrict)
        s += "| `" + std::string(e.name) + "` | " + family_name(e.fam) + " | " + arity + " | " + std::string(e.math) +
             " |\n";
    }
    return s;
}

namespace kernels {

std::size_t norm_axis(op id, std::int64_t axis, std::size_t rank) {
    const auto r = static_cast<std::int64_t>(rank);
    if (axis < -r || axis >= r)
        throw_argument_error(op_name(id), "axis " + std::to_string(axis) + " is out of range for a tensor of " +
                                              std::to_string(rank) + " dimensions");
    return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

axis_split split_at(const shape_t& shape, std::size_t axis) {
    axis_split s;
    for (std::size_t k = 0; k < shape.size(); ++k) {
        if (k < axis) s.outer *= shape[k];
        else if (k == axis) s.n = shape[k];
        else s.inner *= shape[k];
    }
    return s;
}

}  // namespace kernels
}  // namespace xgrad
