#pragma once
// Recording an op on the active tape. Every op in ops/ (and any custom op a user writes) does:
//
//   auto r = record_op(id, name, {a, b});        // checks tape, staleness and dtypes; new node
//   tensor& out = r.out(shape, r.in(0).dtype()); // the node's output buffer (memory reused)
//   ... compute out from r.in(0), r.in(1) ...
//   return r.finish(&my_backward);               // anomaly check, returns the var
#include <initializer_list>
#include <span>

#include "tape.hpp"

namespace xgrad {

class recorder {
public:
    recorder(tape& t, std::uint32_t index) : t_(t), index_(index) {}
    node& self() { return t_.at(index_); }
    const tensor& in(std::size_t i) const { return t_.value(t_.at(index_).inputs[i]); }
    std::size_t arity() const { return t_.at(index_).inputs.size(); }
    bool in_known_zero(std::size_t i) const { return t_.at(t_.at(index_).inputs[i]).known_zero; }
    node_attrs& attrs() { return self().attrs; }
    // The output buffer, sized to `shape` and `d` (contents unspecified).
    tensor& out(const shape_t& shape, xgrad::dtype d);
    // A tensor kept for the backward rule (slot k, buffer reused across steps).
    tensor& save(std::size_t k);
    var finish(backward_fn rule);
    tape& owner() { return t_; }

private:
    tape& t_;
    std::uint32_t index_;
};

// Append a node for op `op` (registry id and name) with these inputs, all on the active tape and
// of one dtype. The node requires a gradient when grad mode is on and any input does.
recorder record_op(std::uint16_t op, const char* name, std::span<const var> inputs);
recorder record_op(std::uint16_t op, const char* name, std::initializer_list<var> inputs);

// Throw shape_error("xgrad::<op>: <what> (scope 'rnn/t=3')").
[[noreturn]] void throw_shape_error(const char* op, const std::string& what);
[[noreturn]] void throw_argument_error(const char* op, const std::string& what);

}  // namespace xgrad
