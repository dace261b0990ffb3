#include "record.hpp"

namespace xgrad {

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
                            ", inputs " + t_.input_shapes(index_) + ") produced a NaN or infinite value");
    return t_.handle(index_);
}

}  // namespace xgrad
