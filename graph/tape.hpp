#pragma once
// The tape: a creation-ordered list of nodes. Every differentiable op appends one node holding its
// output value, its inputs (tape indices) and the backward rule of its op. Creation order is a
// topological order, so backward() is a plain reverse loop that calls each rule; rules add (+=)
// into their inputs' gradients, which sums fan-out (a weight used at every time step) for free.
// That sum over time steps is backpropagation through time: it is never written by hand.
//
// Constructing a tape makes it the thread's active tape; destroying the active tape makes the most
// recently constructed tape still alive active again (tapes may be destroyed in any order).
// clear() keeps every node slot and tensor buffer for reuse, and bumps a generation counter so a
// var from before the clear is reported as stale instead of reading recycled memory.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tensor.hpp"

namespace xgrad {

class tape;
class backward_ctx;
class detached;
struct param_state;
// Work a backward rule hands to the moment the sweep reaches a leaf: f(tape, leaf index).
using leaf_finisher = void (*)(tape&, std::uint32_t);

// A backward rule: reads c.grad_out, c.out, c.in(i) and adds into c.grad_in(i).
using backward_fn = void (*)(backward_ctx& c);

enum class node_kind : std::uint8_t { input, constant, parameter, op };

const char* node_kind_name(node_kind k);

// Settings an op fixes when its node is built, by what they mean; each op uses the fields it needs.
struct node_attrs {
    double slope = 0;       // a slope (an activation's negative side)
    double alpha = 0;       // a scale of an activation's saturating side
    double exponent = 0;    // a power
    double scale = 0;       // a factor on the result (a mean's 1/n)
    double lo = 0, hi = 0;  // bounds
    std::int64_t axis = 0;  // the axis the op works along
    std::size_t start = 0, stop = 0;  // a range [start, stop) along axis
    std::size_t step = 0;   // a time step read from a sequence
    bool whole = false;     // over every element (no axis)
    bool stacked = false;   // along a new axis rather than an existing one
    shape_t shape;          // a target shape
};

struct node {
    node_kind kind = node_kind::constant;
    std::uint16_t op = 0;        // the op's registry id (kind == op)
    const char* op_name = "";    // the op's registry name, for messages and DOT labels
    bool requires_grad = false;
    bool grad_ready = false;     // reached by this pass: grad is this node's buffer (see grad_fresh)
    // grad holds nothing yet (its contents are undefined and mean zero): the first write stores
    mutable bool grad_fresh = false;
    // A constant made by full(shape, 0) (a zero initial state): ops may skip work it cannot change,
    // so that a layer's first step records the same graph as the others at no cost.
    bool known_zero = false;
    std::uint32_t scope = 0;     // index into the tape's scope table
    xt::svector<std::uint32_t, 4> inputs;
    tensor value;                // empty for parameters: theirs lives in the parameter
    mutable tensor grad;         // mutable: a read of a fresh buffer zero-fills it
    std::vector<tensor> saved;   // extra tensors a backward rule needs (slots reused across steps)
    std::size_t saved_count = 0;
    node_attrs attrs;
    backward_fn backward = nullptr;
    std::shared_ptr<param_state> param;  // kind == parameter
    // Parameter leaves: the value's shape and dtype when the leaf was made. The ops recorded on it were
    // built for these, so backward refuses to run their rules if the value has changed shape since.
    shape_t leaf_shape;
    xgrad::dtype leaf_dtype = xgrad::dtype::float32;
    std::string name;            // a user label (inputs) or the parameter's name
};

// A cheap handle to a node: (tape, generation, index). Using it after the tape was cleared or
// destroyed throws stale_variable_error.
class var {
public:
    var() = default;

    const tensor& value() const;
    // The gradient after backward(); an undefined tensor when none reached this node.
    const tensor& grad() const;
    const shape_t& shape() const { return value().shape(); }
    xgrad::dtype dtype() const { return value().dtype(); }
    double item() const { return value().item(); }
    const std::string& name() const;
    bool requires_grad() const;
    // A new leaf holding a copy of this value, cut from the graph (truncated BPTT). It lives on this
    // tape and goes stale at its next clear(); detached_value() is the copy that outlives it.
    var detach() const;
    // This value cut from the graph as a copy that outlives every tape (see class detached).
    detached detached_value() const;
    // backward() on this var's tape; the var must hold a single element.
    void backward() const;

    bool defined() const { return tape_ != 0; }
    bool is_stale() const;  // never throws
    std::uint32_t index() const { return index_; }
    tape& owner() const;    // throws stale_variable_error

private:
    friend class tape;
    friend class detached;
    std::uint64_t tape_ = 0;
    std::uint64_t gen_ = 0;
    std::uint32_t index_ = 0;
};

// A value cut from the graph that outlives every tape: truncated BPTT across tape.clear(). It holds
// a copy of a tensor; used as a var (get() or the conversion), it enters the active tape as a
// constant leaf, once per tape and generation (later uses in that generation give the same node), so
// a state carried from one chunk to the next reads exactly the values it was made from and no
// gradient flows past it. Copies share nothing with any tape.
class detached {
public:
    detached() = default;
    explicit detached(tensor value) : value_(std::move(value)) {}
    bool defined() const { return value_.defined(); }
    const tensor& value() const { return value_; }
    const shape_t& shape() const { return value_.shape(); }
    // The value as a constant on the active tape; throws xgrad::error when there is none or when the
    // value is undefined.
    var get() const;
    operator var() const { return get(); }

private:
    tensor value_;
    mutable var node_;  // the constant made last (its tape, generation and index)
};

// A gradient buffer as a backward rule receives it: in its node's shape and dtype, holding either
// this pass's gradient so far or nothing yet (fresh(): the contents are undefined and mean zero, so
// the first write must store rather than add). Whether to store or add is decided by the buffer's
// state, through the helpers that write (ops/kernels.hpp) or for_add();
// a rule never tracks it. A buffer obtained and left unwritten stays fresh: zero.
class grad_buffer {
public:
    grad_buffer(tensor& t, bool& fresh) : t_(&t), fresh_(&fresh) {}
    bool fresh() const { return *fresh_; }
    // Ready to add into: zero-filled first when fresh.
    tensor& for_add() {
        if (*fresh_) {
            t_->fill(0.0);
            *fresh_ = false;
        }
        return *t_;
    }
    // The buffer as it is, for a write of every element that follows fresh() (store when fresh, add
    // otherwise); call written() once it is done.
    tensor& raw() { return *t_; }
    void written() { *fresh_ = false; }
    template <class T>
    T* data() { return t_->data<T>(); }
    std::size_t size() const { return t_->size(); }
    const shape_t& shape() const { return t_->shape(); }
    xgrad::dtype dtype() const { return t_->dtype(); }

private:
    tensor* t_;
    bool* fresh_;
};

struct scope_entry {
    std::string name;
    std::uint32_t parent = 0;
};

class tape {
public:
    tape();
    ~tape();
    tape(const tape&) = delete;
    tape& operator=(const tape&) = delete;

    // The thread's active tape; throws xgrad::error when there is none.
    static tape& active();
    static tape* active_or_null();

    // Forget every node (keeping their memory for reuse) and start a new generation.
    void clear();
    std::uint64_t generation() const { return gen_; }
    std::uint64_t id() const { return id_; }
    std::size_t size() const { return size_; }

    // Reverse-mode sweep from `root`, which must be a single element (seeded with 1).
    void backward(const var& root);
    // Same with an explicit seed gradient of root's shape and dtype.
    void backward(const var& root, const tensor& seed);

    // Nodes, for DOT export and inspection.
    const node& at(std::size_t i) const { return nodes_[i]; }
    node& at(std::size_t i) { return nodes_[i]; }
    const tensor& value(std::size_t i) const;  // parameters read through to their own value
    // This pass's gradient of node i (parameters: their accumulated gradient); undefined when none
    // reached it.
    const tensor& grad(std::size_t i) const;
    // "node 12, scope 'rnn/t=3'": where node i sits, for messages.
    std::string where(std::size_t i) const;
    // "[32, 50], [50, 50]": the shapes of node i's inputs, for messages (the first 8, then the count).
    std::string input_shapes(std::size_t i) const;
    var handle(std::uint32_t index) const;

    // Index of v on this tape; throws stale_variable_error when v belongs elsewhere or is stale.
    std::uint32_t index_of(const var& v) const;

    // Leaves.
    var input(tensor value, bool requires_grad, std::string name);
    var constant(tensor&& value);
    var constant(const tensor& value);  // copies into the node's reused buffer: no allocation once warm
    var full(const shape_t& shape, double value, xgrad::dtype d);  // a constant filled in its reused buffer
    var use(const std::shared_ptr<param_state>& p);

    // A fresh node slot (reused memory) at the end of the tape. For ops and custom leaves.
    node& push(node_kind kind);

    // Scopes: a label stack recorded on every node ("rnn", "t=3"). Scope 0 is the root.
    std::uint32_t current_scope() const { return scope_; }
    std::uint32_t enter_scope(std::string_view name);  // returns the previous scope
    void leave_scope(std::uint32_t previous) { scope_ = previous; }
    const scope_entry& scope_at(std::uint32_t id) const { return scopes_[id]; }
    std::size_t scope_count() const { return scopes_.size(); }
    std::string scope_path(std::uint32_t id) const;  // "rnn/t=3", "" for the root

    // Node i's gradient buffer in this pass (see grad_buffer); reaching it is what this call does.
    grad_buffer grad_buffer_of(std::uint32_t i);

private:
    friend class var;
    friend class backward_ctx;
    friend struct use_contribution_access;  // graph/contributions.cpp: one rule re-run, its finishers
    void sweep(std::uint32_t root);  // the reverse loop, once the root's gradient is seeded
    void finish_leaf(std::uint32_t leaf, bool anomaly);
    void check_parameter_leaves(std::uint32_t root) const;
    // Leaf finishers registered in this sweep (backward_ctx::finish_at_leaf).
    std::vector<std::pair<std::uint32_t, leaf_finisher>> finishers_;

    std::vector<node> nodes_;
    std::size_t size_ = 0;
    std::uint64_t id_;
    std::uint64_t gen_ = 1;
    std::vector<scope_entry> scopes_;
    std::unordered_map<std::string, std::uint32_t> scope_ids_;
    std::uint32_t scope_ = 0;
};

// What a backward rule sees. The same words in every rule: grad_out (dL/d out), out (the saved
// result), in(i) (input values), needs_grad(i), and grad_in(i), input i's gradient buffer.
class backward_ctx {
public:
    backward_ctx(tape& t, std::uint32_t index);
    const tensor& grad_out;
    const tensor& out;
    const node& self;

    std::size_t arity() const { return self.inputs.size(); }
    const tensor& in(std::size_t i) const { return t_.value(self.inputs[i]); }
    bool needs_grad(std::size_t i) const { return t_.at(self.inputs[i]).requires_grad; }
    bool in_known_zero(std::size_t i) const { return t_.at(self.inputs[i]).known_zero; }
    grad_buffer grad_in(std::size_t i) { return t_.grad_buffer_of(self.inputs[i]); }
    const node_attrs& attrs() const { return self.attrs; }
    const tensor& saved(std::size_t k) const { return self.saved[k]; }
    tape& owner() { return t_; }
    // Hands work on input i's gradient to the moment the sweep reaches that input's leaf, when every
    // op reading the leaf has run: f(tape, leaf) runs then, once per sweep, before the leaf's
    // gradient counts as complete (parameter::add_grad_hook). Returns true for the first
    // registration of f for that leaf in this sweep. For a sum over many rules that is cheaper done
    // once (a recurrent weight's gradient over all time steps in one product).
    bool finish_at_leaf(std::size_t i, leaf_finisher f);

private:
    tape& t_;
};

// RAII label: every node recorded while it lives carries this scope (nested under the current).
class scope {
public:
    explicit scope(std::string_view name);
    ~scope();
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

private:
    tape* tape_;
    std::uint64_t tape_id_;
    std::uint32_t previous_;
};

// RAII guard: ops still compute values, but nothing recorded under it requires a gradient.
class no_grad {
public:
    no_grad();
    ~no_grad();
    no_grad(const no_grad&) = delete;
    no_grad& operator=(const no_grad&) = delete;

private:
    bool previous_;
};
bool grad_enabled();

// RAII guard: check every forward value and every gradient for NaN/Inf and throw anomaly_error
// naming the op, the node, its scope and the input shapes.
class detect_anomaly {
public:
    explicit detect_anomaly(bool on = true);
    ~detect_anomaly();
    detect_anomaly(const detect_anomaly&) = delete;
    detect_anomaly& operator=(const detect_anomaly&) = delete;

private:
    bool previous_;
};
bool anomaly_enabled();

// Leaves on the active tape.
struct input_options {
    bool requires_grad = false;
    std::string name;
};
var input(tensor value, input_options opt = {});
var input(tensor value, std::string name);
var constant(tensor&& value);
var constant(const tensor& value);  // copies into a reused node buffer (steady state allocates nothing)
// A constant of this shape with every element `value` (e.g. a zero initial state), built in the
// node's reused buffer: unlike constant(tensor::zeros(...)) it allocates nothing once warm.
var full(const shape_t& shape, double value, dtype d);

// "scope 'rnn/t=3'" for the active tape's current scope, or "" at the root / without a tape.
std::string scope_suffix();

}  // namespace xgrad
