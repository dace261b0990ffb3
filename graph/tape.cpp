#include "tape.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "parameter.hpp"

namespace xgrad {

namespace {
std::atomic<std::uint64_t> g_next_tape_id{1};
thread_local tape* g_active = nullptr;
thread_local std::vector<tape*> g_live;  // tapes alive on this thread, to resolve var handles
thread_local bool g_grad_enabled = true;
thread_local bool g_anomaly = false;

tape* find_live(std::uint64_t id) {
    for (auto it = g_live.rbegin(); it != g_live.rend(); ++it)
        if ((*it)->id() == id) return *it;
    return nullptr;
}
}  // namespace

const char* node_kind_name(node_kind k) {
    switch (k) {
        case node_kind::input: return "input";
        case node_kind::constant: return "constant";
        case node_kind::parameter: return "parameter";
        case node_kind::op: return "op";
    }
    return "?";
}

// ---- tape -------------------------------------------------------------------------------------

tape::tape() : id_(g_next_tape_id++) {
    scopes_.push_back({"", 0});
    g_active = this;
    g_live.push_back(this);
}

tape::~tape() {
    g_live.erase(std::remove(g_live.begin(), g_live.end(), this), g_live.end());
    // Tapes may die in any order (a vector of tapes cleared front to back): the active one becomes the
    // most recently made tape still alive, never one that is gone.
    if (g_active == this) g_active = g_live.empty() ? nullptr : g_live.back();
}

tape& tape::active() {
    if (!g_active)
        throw error("xgrad: no active tape on this thread: create one first (xgrad::tape tape;) "
                    "before building variables or calling ops");
    return *g_active;
}

tape* tape::active_or_null() { return g_active; }

void tape::clear() {
    size_ = 0;
    ++gen_;
    scope_ = 0;
}

const tensor& tape::value(std::size_t i) const {
    const node& n = nodes_[i];
    return n.param ? n.param->value : n.value;
}

const tensor& tape::grad(std::size_t i) const {
    const node& n = nodes_[i];
    if (n.param) return n.param->materialized_grad();
    static const tensor undefined;
    if (!n.grad_ready) return undefined;
    if (n.grad_fresh) {  // reached, nothing written: zero
        n.grad.fill(0.0);
        n.grad_fresh = false;
    }
    return n.grad;
}

std::string tape::where(std::size_t i) const {
    const node& n = nodes_[i];
    std::string w = "node " + std::to_string(i);
    if (n.scope) w += ", scope '" + scope_path(n.scope) + "'";
    return w;
}

std::string tape::input_shapes(std::size_t i) const {
    // At most `shown` shapes, then how many more (a concat of 100,000 steps keeps a short message).
    constexpr std::size_t shown = 8;
    const node& n = nodes_[i];
    std::string s;
    for (std::size_t j = 0; j < n.inputs.size() && j < shown; ++j) {
        if (j) s += ", ";
        s += shape_str(value(n.inputs[j]).shape());
    }
    if (n.inputs.size() > shown) s += ", … (" + std::to_string(n.inputs.size()) + " inputs)";
    return s;
}

var tape::handle(std::uint32_t index) const {
    var v;
    v.tape_ = id_;
    v.gen_ = gen_;
    v.index_ = index;
    return v;
}

std::uint32_t tape::index_of(const var& v) const {
    if (!v.defined()) throw stale_variable_error("xgrad: use of an empty var (default-constructed, never assigned)");
    if (v.tape_ != id_)
        throw stale_variable_error("xgrad: this var belongs to another tape (or to one that was destroyed); "
                                   "an op can only combine vars of the active tape");
    if (v.gen_ != gen_ || v.index_ >= size_)
        throw stale_variable_error("xgrad: stale var (node " + std::to_string(v.index_) + " of generation " +
                                   std::to_string(v.gen_) + "): its tape was cleared since (now generation " +
                                   std::to_string(gen_) + "); build it again after clear()");
    return v.index_;
}

node& tape::push(node_kind kind) {
    if (size_ == nodes_.size()) nodes_.emplace_back();
    node& n = nodes_[size_++];
    n.kind = kind;
    n.op = 0;
    n.op_name = "";
    n.requires_grad = false;
    n.grad_ready = false;
    n.grad_fresh = false;
    n.known_zero = false;
    n.scope = scope_;
    n.inputs.clear();
    n.saved_count = 0;
    n.attrs = node_attrs{};
    n.backward = nullptr;
    n.param.reset();
    n.name.clear();
    return n;
}

var tape::input(tensor value, bool requires_grad, std::string name) {
    node& n = push(node_kind::input);
    n.value = std::move(value);
    n.requires_grad = requires_grad;
    n.name = std::move(name);
    return handle(static_cast<std::uint32_t>(size_ - 1));
}

var tape::constant(tensor&& value) {
    node& n = push(node_kind::constant);
    n.value = std::move(value);
    return handle(static_cast<std::uint32_t>(size_ - 1));
}

var tape::constant(const tensor& value) {
    // `value` may live in a node of this tape (detach): growing nodes_ would move it, so copy first.
    if (size_ == nodes_.size()) return constant(tensor(value));
    node& n = push(node_kind::constant);
    n.value.reshape_storage(value.shape(), value.dtype());
    value.visit([&](const auto& src) {
        using T = typename std::decay_t<decltype(src)>::value_type;
        if (src.size()) std::memcpy(n.value.data<T>(), src.data(), src.size() * sizeof(T));
    });
    return handle(static_cast<std::uint32_t>(size_ - 1));
}

var tape::full(const shape_t& shape, double value, xgrad::dtype d) {
    node& n = push(node_kind::constant);
    n.value.reshape_storage(shape, d);
    n.value.fill(value);
    n.known_zero = value == 0;
    return handle(static_cast<std::uint32_t>(size_ - 1));
}

var tape::use(const std::shared_ptr<param_state>& p) {
    if (p->tape_id == id_ && p->tape_gen == gen_ && p->tape_index < size_ && nodes_[p->tape_index].param == p)
        return handle(p->tape_index);
    node& n = push(node_kind::parameter);
    n.param = p;
    n.name = p->name;
    n.leaf_shape = p->value.shape();
    n.leaf_dtype = p->value.dtype();
    // A new forward pass may read a value changed through a reference kept from value(): a new
    // version, unless the last change was update_in_place (param_state::version).
    if (!p->updated_in_place) ++p->version;
    p->updated_in_place = false;
    n.requires_grad = p->requires_grad && g_grad_enabled;
    p->tape_id = id_;
    p->tape_gen = gen_;
    p->tape_index = static_cast<std::uint32_t>(size_ - 1);
    return handle(p->tape_index);
}

std::uint32_t tape::enter_scope(std::string_view name) {
    std::string key = std::to_string(scope_);
    key += '/';
    key += name;
    auto it = scope_ids_.find(key);
    std::uint32_t id;
    if (it != scope_ids_.end()) {
        id = it->second;
    } else {
        id = static_cast<std::uint32_t>(scopes_.size());
        scopes_.push_back({std::string(name), scope_});
        scope_ids_.emplace(std::move(key), id);
    }
    const std::uint32_t previous = scope_;
    scope_ = id;
    return previous;
}

std::string tape::scope_path(std::uint32_t id) const {
    std::string path;
    while (id != 0) {
        path = path.empty() ? scopes_[id].name : scopes_[id].name + "/" + path;
        id = scopes_[id].parent;
    }
    return path;
}

// ---- var --------------------------------------------------------------------------------------

tape& var::owner() const {
    if (!defined()) throw stale_variable_error("xgrad: use of an empty var (default-constructed, never assigned)");
    tape* t = find_live(tape_);
    if (!t) throw stale_variable_error("xgrad: stale var: its tape was destroyed");
    t->index_of(*this);
    return *t;
}

bool var::is_stale() const {
    if (!defined()) return true;
    tape* t = find_live(tape_);
    return !t || t->gen_ != gen_ || index_ >= t->size_;
}

const tensor& var::value() const { return owner().value(index_); }
const tensor& var::grad() const { return owner().grad(index_); }
const std::string& var::name() const { return owner().at(index_).name; }
bool var::requires_grad() const { return owner().at(index_).requires_grad; }
void var::backward() const { owner().backward(*this); }

var var::detach() const {
    tape& t = owner();
    if (&t != tape::active_or_null())
        throw stale_variable_error("xgrad: detach() needs the var's tape to be the active tape");
    return t.constant(t.value(index_));
}

detached var::detached_value() const { return detached(owner().value(index_)); }

var detached::get() const {
    if (!value_.defined()) throw error("xgrad: use of an empty detached value (default-constructed, never assigned)");
    tape& t = tape::active();
    // The node made last is reused while it is still this value on the active tape's generation.
    if (node_.defined() && node_.tape_ == t.id() && !node_.is_stale() && t.at(node_.index_).kind == node_kind::constant)
        return node_;
    node_ = t.constant(value_);
    return node_;
}

// ---- guards and leaves ------------------------------------------------------------------------

scope::scope(std::string_view name) : tape_(&tape::active()), tape_id_(tape_->id()) {
    previous_ = tape_->enter_scope(name);
}

scope::~scope() {
    if (find_live(tape_id_) == tape_) tape_->leave_scope(previous_);
}

no_grad::no_grad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
no_grad::~no_grad() { g_grad_enabled = previous_; }
bool grad_enabled() { return g_grad_enabled; }

detect_anomaly::detect_anomaly(bool on) : previous_(g_anomaly) { g_anomaly = on; }
detect_anomaly::~detect_anomaly() { g_anomaly = previous_; }
bool anomaly_enabled() { return g_anomaly; }

var input(tensor value, input_options opt) {
    return tape::active().input(std::move(value), opt.requires_grad && g_grad_enabled, std::move(opt.name));
}
var input(tensor value, std::string name) { return tape::active().input(std::move(value), false, std::move(name)); }
var constant(tensor&& value) { return tape::active().constant(std::move(value)); }
var constant(const tensor& value) { return tape::active().constant(value); }
var full(const shape_t& shape, double value, dtype d) { return tape::active().full(shape, value, d); }

std::string scope_suffix() {
    tape* t = g_active;
    if (!t || t->current_scope() == 0) return "";
    return " (scope '" + t->scope_path(t->current_scope()) + "')";
}

}  // namespace xgrad
