#include "recurrent.hpp"

#include <algorithm>
#include <optional>

#include "../ops/ops.hpp"
#include "dropout.hpp"

namespace xgrad::nn {

namespace {
std::string str(std::size_t n) { return std::to_string(n); }
}  // namespace

recurrent_base::recurrent_base(std::string type, const recurrent_options& opt, std::size_t gates)
    : module(std::move(type)), opt_(opt), gates_(gates) {
    if (opt.input_size == 0 || opt.hidden_size == 0 || opt.num_layers == 0)
        throw argument_error("nn::" + type_name() + ": input_size, hidden_size and num_layers must be positive (got " +
                             str(opt.input_size) + ", " + str(opt.hidden_size) + ", " + str(opt.num_layers) + ")");
    if (!(opt.dropout >= 0.0 && opt.dropout < 1.0))  // also refuses NaN
        throw argument_error("nn::" + type_name() + ": dropout = " + std::to_string(opt.dropout) +
                             " must be in [0, 1) (the probability of zeroing an output between stacked layers)");
    // One generator for the whole layer; draws in registration order (layer by layer, forward
    // direction then reverse: weight_ih, weight_hh, bias_ih, bias_hh or the single bias), so a seed
    // fixes every value. Keras init draws no bias, so both bias layouts get the same weights from one seed.
    rng gen(opt.seed);
    const std::size_t H = opt.hidden_size, D = opt.bidirectional ? 2 : 1;
    for (std::size_t l = 0; l < opt.num_layers; ++l) {
        const std::size_t in = l == 0 ? opt.input_size : D * H;  // layer l > 0 reads [fwd | bwd]
        for (std::size_t d = 0; d < D; ++d)
            layers_.push_back(make_direction("_l" + str(l) + (d == 1 ? "_reverse" : ""), in, gen));
    }
}

recurrent_base::layer_params recurrent_base::make_direction(const std::string& sfx, std::size_t in, rng& gen) {
    const std::size_t H = opt_.hidden_size, GH = gates_ * H;
    const dtype d = opt_.dt;
    const bool single = opt_.bias && opt_.biases == bias_layout::keras && gates_ != 3;  // gru: two in Keras too
    layer_params p;
    if (opt_.init == init_style::keras) {
        p.w_ih = register_parameter("weight_ih" + sfx, glorot_uniform({GH, in}, gen, d));
        p.w_hh = register_parameter("weight_hh" + sfx, orthogonal({GH, H}, gen, 1.0, d));
        if (opt_.bias) {
            tensor b_ih = zeros({GH}, d);
            if (gates_ == 4 && opt_.unit_forget_bias)
                for (std::size_t j = H; j < 2 * H; ++j) b_ih.set_flat(j, 1.0);  // forget gate (i, f, g, o)
            if (single) {
                p.b = register_parameter("bias" + sfx, std::move(b_ih));
            } else {
                p.b_ih = register_parameter("bias_ih" + sfx, std::move(b_ih));
                p.b_hh = register_parameter("bias_hh" + sfx, zeros({GH}, d));
            }
        }
    } else {
        p.w_ih = register_parameter("weight_ih" + sfx, uniform_hidden({GH, in}, H, gen, d));
        p.w_hh = register_parameter("weight_hh" + sfx, uniform_hidden({GH, H}, H, gen, d));
        if (single) {
            p.b = register_parameter("bias" + sfx, uniform_hidden({GH}, H, gen, d));
        } else if (opt_.bias) {
            p.b_ih = register_parameter("bias_ih" + sfx, uniform_hidden({GH}, H, gen, d));
            p.b_hh = register_parameter("bias_hh" + sfx, uniform_hidden({GH}, H, gen, d));
        }
    }
    return p;
}

const recurrent_base::layer_params& recurrent_base::layer(std::size_t l, bool reverse) const {
    if (l >= opt_.num_layers || (reverse && !opt_.bidirectional))
        throw argument_error("nn::" + type_name() + "::layer(" + str(l) + (reverse ? ", reverse" : "") +
                             "): the layer has " + str(opt_.num_layers) + " layer(s)" +
                             (opt_.bidirectional ? " in two directions" : " and no reverse direction"));
    return layers_[l * directions() + (reverse ? 1 : 0)];
}

bool recurrent_base::dropout_active() const { return opt_.dropout > 0 && opt_.num_layers > 1 && is_training(); }

std::uint64_t recurrent_base::dropout_mask_seed(std::uint64_t call, std::size_t l) const {
    return nn::dropout_mask_seed(opt_.dropout_seed.value_or(opt_.seed), call, l);
}

void recurrent_base::check_input(const var& x, const std::vector<var>& h0, const char* what) const {
    const auto& s = x.shape();
    const std::string me = "nn::" + type_name();
    if (s.size() != 3 || s[2] != opt_.input_size || s[0] == 0 || s[1] == 0)
        throw shape_error(me + ": input must be [batch, time, input_size=" + str(opt_.input_size) +
                          "] (batch-first, non-empty), got " + shape_str(s) + scope_suffix());
    const dtype pd = layers_[0].w_ih.dtype();
    if (x.dtype() != pd)
        throw dtype_error(me + ": input is " + dtype_name(x.dtype()) + " but the parameters are " + dtype_name(pd) +
                          "; cast the model (cast()) or the input (tensor::to())");
    if (h0.empty()) return;
    const std::size_t units = opt_.num_layers * directions();
    if (h0.size() != units)
        throw argument_error(me + ": " + what +
                             (opt_.bidirectional ? " needs one [batch, hidden] state per layer and direction (2 x " +
                                                       str(opt_.num_layers) + " = " + str(units) +
                                                       ", index 2·layer + direction, PyTorch's h_0 order)"
                                                 : " needs one [batch, hidden] state per layer (" + str(units) + ")") +
                             ", got " + str(h0.size()));
    for (std::size_t l = 0; l < h0.size(); ++l) {
        const auto& hs = h0[l].shape();
        if (hs.size() != 2 || hs[0] != s[0] || hs[1] != opt_.hidden_size)
            throw shape_error(me + ": " + what + "[" + str(l) + "] must be [batch=" + str(s[0]) +
                              ", hidden=" + str(opt_.hidden_size) + "], got " + shape_str(hs));
        if (h0[l].dtype() != pd)
            throw dtype_error(me + ": " + what + "[" + str(l) + "] is " + dtype_name(h0[l].dtype()) +
                              " but the parameters are " + dtype_name(pd));
    }
}

var recurrent_base::begin_lengths(const var& x, const std::vector<std::size_t>& lengths) {
    masked_ = false;
    lengths_.clear();
    lengths_var_ = var();
    if (lengths.empty()) return x;
    const std::size_t B = x.shape()[0], T = x.shape()[1];
    const std::string me = "nn::" + type_name();
    if (lengths.size() != B)
        throw shape_error(me + ": lengths has " + str(lengths.size()) + " entries but the input has " + str(B) +
                          " batch rows (one sequence length per row)");
    std::size_t shortest = T;
    for (std::size_t b = 0; b < B; ++b) {
        if (lengths[b] == 0 || lengths[b] > T)
            throw argument_error(me + ": lengths[" + str(b) + "] = " + str(lengths[b]) + ": batch row " + str(b) +
                                 "'s sequence length must be in [1, T=" + str(T) + "] (T: the input's time steps)");
        shortest = std::min(shortest, lengths[b]);
    }
    if (shortest == T) return x;  // every row is full: the graph of a call without lengths
    masked_ = true;
    lengths_ = lengths;
    mask_from_ = shortest;
    scope s(type_name());  // the lengths and the masked input sit in the layer's scope (its DOT cluster)
    lengths_var_ = lengths_input(lengths, x.dtype());
    return mask_padding(x, lengths_var_);
}

var recurrent_base::keep(std::size_t t, const var& h_new, const var& h_old) const {
    if (!masked_ || t < mask_from_) return h_new;
    return mask_step(h_new, h_old, lengths_var_, t);
}

var recurrent_base::end_lengths(const var& out) const {
    if (!masked_ || !opt_.return_sequences) return out;
    scope s(type_name());
    return mask_padding(out, lengths_var_);
}

var recurrent_base::forward_chunk(const var& x, carried& s) {
    state initial;
    for (const auto& h : s.h) initial.h.push_back(h.get());
    for (const auto& c : s.c) initial.c.push_back(c.get());
    var y = forward(x, initial);
    const state last = final_state();
    carried next;
    for (const auto& h : last.h) next.h.push_back(h.detached_value());
    for (const auto& c : last.c) next.c.push_back(c.detached_value());
    s = std::move(next);
    return y;
}

var recurrent_base::initial(const std::vector<var>& h0, std::size_t l, std::size_t batch, dtype d) const {
    if (!h0.empty()) return h0[l];
    return full({batch, opt_.hidden_size}, 0.0, d);
}

var recurrent_base::project(const var& x, std::size_t l) const {
    const auto& p = layers_[l];
    if (p.b.defined()) return xgrad::linear(x, p.w_ih, p.b);
    return opt_.bias ? xgrad::linear(x, p.w_ih, p.b_ih) : xgrad::linear(x, p.w_ih);
}

var recurrent_base::project_summed_biases(const var& x, std::size_t l) const {
    const auto& p = layers_[l];
    if (p.b.defined()) return xgrad::linear(x, p.w_ih, p.b);
    return opt_.bias ? xgrad::linear(x, p.w_ih, p.b_ih + p.b_hh) : xgrad::linear(x, p.w_ih);
}

var recurrent_base::recur_at(const var& h, const var& a, std::size_t t, std::size_t l) const {
    return xgrad::linear_at(h, layers_[l].w_hh, a, t);
}

var recurrent_base::textbook_gates(const var& x_t, const var& h, std::size_t l) const {
    return project(x_t, l) + recur(h, l);
}

var recurrent_base::recur(const var& h, std::size_t l) const {
    const auto& p = layers_[l];
    return opt_.bias && !p.b.defined() ? xgrad::linear(h, p.w_hh, p.b_hh) : xgrad::linear(h, p.w_hh);
}

// The loop shared by the three layers: for each layer and direction (unit u = 2·l + dir when
// bidirectional, else l), project the direction's input sequence once (a), then step through time
// with `step(u, a, t, x_t) -> h`, stacking the outputs a later layer (or the caller, with
// return_sequences) needs. `step.project(seq, u)` also resets the step's state to unit u's initial
// one. The reverse direction reads reverse_time(seq, lengths()) and its stacked outputs are reversed back; the
// directions' results are concatenated along features. Between layers, in training mode, the output
// goes through dropout. textbook: no projection (a undefined); each step gets its x_t (select of the
// direction's input, recorded in the step's scope; in a single direction without dropout, the layer
// below's h_t itself).
template <class Step>
static var run_layers(recurrent_base& self, const recurrent_options& opt, const var& x,
                      std::vector<var>& final_h, std::vector<var>& step_h, Step&& step) {
    scope outer(self.type_name());
    final_h.clear();
    const std::size_t T = x.shape()[1], D = self.directions();
    const bool drop = self.dropout_active();
    const std::uint64_t call = self.dropout_calls();
    if (drop) self.set_dropout_calls(call + 1);
    var seq = x, out;
    std::vector<var> below;  // textbook, l > 0, one direction, no dropout: the layer below's h_t
    for (std::size_t l = 0; l < opt.num_layers; ++l) {
        std::optional<scope> in_layer;
        if (opt.num_layers > 1) in_layer.emplace("l=" + std::to_string(l));
        const bool top = l + 1 == opt.num_layers;
        const bool feed = opt.textbook && !top && D == 1 && !drop;  // the next layer reads the steps
        const bool keep = !top || opt.return_sequences;
        var half[2];  // per direction: its outputs in time order [batch, T, H], or its last h
        std::vector<var> hs;
        for (std::size_t d = 0; d < D; ++d) {
            std::optional<scope> in_dir;
            if (D == 2) in_dir.emplace(d == 0 ? "forward" : "reverse");
            const std::size_t u = l * D + d;
            // the direction's input, in its order of steps (reversed within each row's length)
            const var src = d == 0 ? seq : reverse_time(seq, self.lengths());
            const var a = step.project(src, u);
            hs.clear();
            if (keep) hs.reserve(T);
            if (d == 0) {
                step_h.clear();  // ends holding the top layer's (forward direction's) steps
                step_h.reserve(T);
            }
            var h;
            for (std::size_t t = 0; t < T; ++t) {
                scope at("t=" + std::to_string(t));
                var x_t;
                if (opt.textbook) x_t = below.empty() ? select(src, 1, t) : below[t];
                h = step(u, a, t, x_t);
                if (keep) hs.push_back(h);
                if (d == 0) step_h.push_back(h);
            }
            final_h.push_back(h);
            if (feed || !keep) half[d] = h;
            else half[d] = d == 0 ? stack(hs, 1) : reverse_time(stack(hs, 1), self.lengths());
        }
        out = D == 1 ? half[0] : concat({half[0], half[1]}, keep ? 2 : 1);
        if (drop && !top) out = xgrad::dropout(out, opt.dropout, self.dropout_mask_seed(call, l));
        seq = out;
        below.clear();
        if (feed) below = std::move(hs);
    }
    return out;
}

namespace {
void check_no_cell_state(const recurrent_base::state& s, const std::string& type) {
    if (!s.c.empty())
        throw argument_error("nn::" + type + ": has no cell state; the initial state's c must be empty (it has " +
                             std::to_string(s.c.size()) + ")");
}
}  // namespace

std::unique_ptr<recurrent_base> make_recurrent(std::string_view cell, const recurrent_options& opt) {
    if (cell == "rnn") return std::make_unique<rnn>(opt);
    if (cell == "lstm") return std::make_unique<lstm>(opt);
    if (cell == "gru") return std::make_unique<gru>(opt);
    throw argument_error("nn::make_recurrent: unknown cell '" + std::string(cell) + "' (use rnn, lstm or gru)");
}

rnn::rnn(const recurrent_options& opt) : recurrent_base("rnn", opt, 1) { check_activation(opt.activation, "nn::rnn"); }

var rnn::forward(const var& x, const state& initial, const std::vector<std::size_t>& lengths) {
    check_no_cell_state(initial, type_name());
    return (*this)(x, initial.h, lengths);
}

var rnn::operator()(const var& x, const std::vector<var>& h0) { return (*this)(x, h0, {}); }

var rnn::operator()(const var& x, const std::vector<var>& h0, const std::vector<std::size_t>& lengths) {
    check_input(x, h0, "h0");
    const var xs = begin_lengths(x, lengths);
    struct step_t {
        rnn& self;
        const std::vector<var>& h0;
        var h;
        var project(const var& seq, std::size_t l) {
            h = self.initial(h0, l, seq.shape()[0], seq.dtype());
            return self.opt_.textbook ? var() : self.project_summed_biases(seq, l);
        }
        var operator()(std::size_t l, const var& a, std::size_t t, const var& x_t) {
            // h·W_hhᵀ + (x_t·W_ihᵀ + b_ih + b_hh); textbook: (x_t·W_ihᵀ + b_ih) + (h·W_hhᵀ + b_hh)
            var pre = self.opt_.textbook ? self.textbook_gates(x_t, h, l) : self.recur_at(h, a, t, l);
            h = self.keep(t, self.opt_.activation == "tanh" ? tanh(pre) : activation(self.opt_.activation, pre), h);
            return h;
        }
    } step{*this, h0, {}};
    return end_lengths(run_layers(*this, opt_, xs, final_h_, step_h_, step));
}

lstm::lstm(const recurrent_options& opt) : recurrent_base("lstm", opt, 4) {}

var lstm::forward(const var& x, const state& initial, const std::vector<std::size_t>& lengths) {
    return (*this)(x, initial.h, initial.c, lengths);
}

var lstm::operator()(const var& x, const std::vector<var>& h0, const std::vector<var>& c0) {
    return (*this)(x, h0, c0, {});
}

var lstm::operator()(const var& x, const std::vector<var>& h0, const std::vector<var>& c0,
                     const std::vector<std::size_t>& lengths) {
    check_input(x, h0, "h0");
    check_input(x, c0, "c0");
    const var xs = begin_lengths(x, lengths);
    final_c_.clear();
    struct step_t {
        lstm& self;
        const std::vector<var>& h0;
        const std::vector<var>& c0;
        var h, c;
        var project(const var& seq, std::size_t l) {
            if (l > 0) self.final_c_.push_back(c);
            h = self.initial(h0, l, seq.shape()[0], seq.dtype());
            c = self.initial(c0, l, seq.shape()[0], seq.dtype());
            return self.opt_.textbook ? var() : self.project_summed_biases(seq, l);
        }
        var operator()(std::size_t l, const var& a, std::size_t t, const var& x_t) {
            const std::size_t H = self.opt_.hidden_size;
            // [batch, 4H]: i, f, g, o
            var g = self.opt_.textbook ? self.textbook_gates(x_t, h, l) : self.recur_at(h, a, t, l);
            // under lengths a row past its end keeps both h and c (keep: a row copy)
            if (self.opt_.fused) {
                const var c_new = lstm_state(g, c);  // c_t = f⊙c_{t-1} + i⊙g
                const var h_new = lstm_output(g, c_new);  // h_t = o⊙tanh(c_t)
                c = self.keep(t, c_new, c);
                return h = self.keep(t, h_new, h);
            }
            var i = sigmoid(slice(g, 1, 0, H));
            var f = sigmoid(slice(g, 1, H, 2 * H));
            var cand = tanh(slice(g, 1, 2 * H, 3 * H));
            var o = sigmoid(slice(g, 1, 3 * H, 4 * H));
            const var c_new = f * c + i * cand;  // c_t = f⊙c_{t-1} + i⊙g
            const var h_new = o * tanh(c_new);   // h_t = o⊙tanh(c_t)
            c = self.keep(t, c_new, c);
            return h = self.keep(t, h_new, h);
        }
    } step{*this, h0, c0, {}, {}};
    var out = run_layers(*this, opt_, xs, final_h_, step_h_, step);
    final_c_.push_back(step.c);
    return end_lengths(out);
}

gru::gru(const recurrent_options& opt) : recurrent_base("gru", opt, 3) {}

var gru::forward(const var& x, const state& initial, const std::vector<std::size_t>& lengths) {
    check_no_cell_state(initial, type_name());
    return (*this)(x, initial.h, lengths);
}

var gru::operator()(const var& x, const std::vector<var>& h0) { return (*this)(x, h0, {}); }

var gru::operator()(const var& x, const std::vector<var>& h0, const std::vector<std::size_t>& lengths) {
    check_input(x, h0, "h0");
    const var xs = begin_lengths(x, lengths);
    struct step_t {
        gru& self;
        const std::vector<var>& h0;
        var h;
        var project(const var& seq, std::size_t l) {
            h = self.initial(h0, l, seq.shape()[0], seq.dtype());
            return self.opt_.textbook ? var() : self.project(seq, l);
        }
        var operator()(std::size_t l, const var& a, std::size_t t, const var& x_t) {
            const std::size_t H = self.opt_.hidden_size;
            // fused: x_t's r, z, n read in place from a[:, t] (textbook: x_t·W_ihᵀ + b_ih of this step);
            // h's r, z, n from h·W_hhᵀ + b_hh
            if (self.opt_.fused && self.opt_.textbook)
                return h = self.keep(t, gru_cell(self.project(x_t, l), self.recur(h, l), h), h);
            if (self.opt_.fused) return h = self.keep(t, gru_cell_at(a, self.recur(h, l), h, t), h);
            var a_t = self.opt_.textbook ? self.project(x_t, l) : select(a, 1, t);  // [batch, 3H]: x_t's r, z, n
            var r_t = self.recur(h, l);  // [batch, 3H]: r, z, n
            var rz = sigmoid(slice(a_t, 1, 0, 2 * H) + slice(r_t, 1, 0, 2 * H));
            var r = slice(rz, 1, 0, H);
            var z = slice(rz, 1, H, 2 * H);
            var n = tanh(slice(a_t, 1, 2 * H, 3 * H) + r * slice(r_t, 1, 2 * H, 3 * H));
            return h = self.keep(t, n + z * (h - n), h);  // (1 - z)⊙n + z⊙h_{t-1}
        }
    } step{*this, h0, {}};
    return end_lengths(run_layers(*this, opt_, xs, final_h_, step_h_, step));
}

}  // namespace xgrad::nn
