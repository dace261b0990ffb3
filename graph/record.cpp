#include "record.hpp"

#include <cmath>

namespace xgrad {

namespace {

// The flat index of t's first NaN/inf element, or t.size() when every element is finite.
std::size_t first_nonfinite_index(const tensor& t) {
    return t.visit([](const auto& a) {
        const auto* p = a.data();
        const std::size_t n = a.size();
        for (std::size_t i = 0; i < n; ++i)
            if (!std::isfinite(p[i])) return i;
        return n;
    });
}

// Where an input's first NaN/inf sits: "nan at [1, 5, 2]" (row-major multi-index of flat index i,
// shortened like a long shape), and for a 3-D value its reading as a [batch, time, features]
// sequence, the layout of every sequence input in xgrad.
std::string nonfinite_position(const tensor& t, std::size_t i) {
    const double v = t.flat(i);
    const shape_t& s = t.shape();
    shape_t at(s.size());
    for (std::size_t d = s.size(), rest = i; d-- > 0;) {
        at[d] = rest % s[d];
        rest /= s[d];
    }
    std::string out = std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
    out += " at " + shape_str(at);
    if (s.size() == 3)
        out += " (as [batch, time, features]: sample " + std::to_string(at[0]) + ", time step " + std::to_string(at[1]) +
               ", feature " + std::to_string(at[2]) + ")";
    return out;
}

// "; its input 0 (the input 'x' [4, 10, 3]) already holds nan at [...] (...): it came in so, this op
// did not make it", for the first input of node `index` holding a NaN/inf; "" when all are finite.
std::string nonfinite_input(const tape& t, std::uint32_t index) {
    const node& n = t.at(index);
    for (std::size_t j = 0; j < n.inputs.size(); ++j) {
        const tensor& v = t.value(n.inputs[j]);
        const std::size_t i = first_nonfinite_index(v);
        if (i == v.size()) continue;
        const node& in = t.at(n.inputs[j]);
        std::string what = in.kind == node_kind::op ? std::string("the output of '") + in.op_name + "'"
                                                    : std::string("the ") + node_kind_name(in.kind);
        if (in.kind != node_kind::op && !in.name.empty()) what += " '" + in.name + "'";
        what += " " + shape_str(v.shape()) + ", " + t.where(n.inputs[j]);
        return "; its input " + std::to_string(j) + " (" + what + ") already holds " + nonfinite_position(v, i) +
               ": the value came in so, this op did not make it";
    }
    return "";
}

}  // namespace

void throw_shape_error(const char* op, const std::string& what) {
    throw shape_error(std::string("xgrad::") + op + ": " + what + scope_suffix());
}

void throw_argument_error(const char* op, const std::string& what) {
    throw argument_error(std::string("xgrad::") + op + ": " + what + scope_suffix());
}

recorder record_op(std::uint16_t op, const char* name, std::initializer_list<var> inputs) {
    return record_op(op, name, std::span<const var>(inputs.begin(), inputs.size()));
}

recorder record_op(std::uint16_t op, const char* name, std::span<const var> inputs) {
    tape& t = tape::active();
    xt::svector<std::uint32_t, 4> idx;
    bool requires_grad = false;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        std::uint32_t k;
        try {
            k = t.index_of(inputs[i]);
        } catch (const stale_variable_error& e) {
            throw stale_variable_error(std::string("xgrad::") + name + ", input " + std::to_string(i) + ": " +
                                       e.what());
        }
        idx.push_back(k);
        requires_grad = requires_grad || t.at(k).requires_grad;
        if (i > 0 && t.value(k).dtype() != t.value(idx[0]).dtype())
            throw dtype_error(std::string("xgrad::") + name + ": input " + std::to_string(i) + " is " +
                              dtype_name(t.value(k).dtype()) + " but input 0 is " +
                              dtype_name(t.value(idx[0]).dtype()) +
                              "; xgrad never mixes dtypes silently: convert one (tensor::to, module::cast)" +
                              scope_suffix());
    }
    node& n = t.push(node_kind::op);
    n.op = op;
    n.op_name = name;
    n.inputs = idx;
    n.requires_grad = requires_grad && grad_enabled();
    return recorder(t, static_cast<std::uint32_t>(t.size() - 1));
}

tensor& recorder::out(const shape_t& shape, xgrad::dtype d) {
    tensor& v = self().value;
    v.reshape_storage(shape, d);
    return v;
}

tensor& recorder::save(std::size_t k) {
    node& n = self();
    if (n.saved.size() <= k) n.saved.resize(k + 1);
    if (n.saved_count <= k) n.saved_count = k + 1;
    return n.saved[k];
}

var recorder::finish(backward_fn rule) {
    node& n = self();
    n.backward = rule;
    if (anomaly_enabled() && !all_finite(n.value))
        throw anomaly_error(std::string("xgrad anomaly: the forward of '") + n.op_name + "' (" + t_.where(index_) +
                            ", inputs " + t_.input_shapes(index_) + ") produced a NaN or infinite value" +
                            nonfinite_input(t_, index_));
    return t_.handle(index_);
}

}  // namespace xgrad
