#pragma once
// Every differentiable op of xgrad. Each call records one node on the active tape; the op's
// forward and backward rules live side by side in ops/<family>.cpp, and its entry in
// ops/registry.hpp gives its name and maths.
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "../graph/tape.hpp"
#include "registry.hpp"

namespace xgrad {

// ---- arithmetic: binary ops broadcast like NumPy -------------------------------------------------
var add(const var& a, const var& b);
var sub(const var& a, const var& b);
var mul(const var& a, const var& b);
var div(const var& a, const var& b);
var neg(const var& x);
var pow(const var& x, double p);
var exp(const var& x);
var log(const var& x);
var sqrt(const var& x);
var abs(const var& x);
var square(const var& x);
var clamp(const var& x, double lo, double hi);

inline var operator+(const var& a, const var& b) { return add(a, b); }
inline var operator-(const var& a, const var& b) { return sub(a, b); }
inline var operator*(const var& a, const var& b) { return mul(a, b); }
inline var operator/(const var& a, const var& b) { return div(a, b); }
inline var operator-(const var& x) { return neg(x); }
// A scalar operand becomes a 0-d constant of the other operand's dtype.
var operator+(const var& a, double b);
var operator+(double a, const var& b);
var operator-(const var& a, double b);
var operator-(double a, const var& b);
var operator*(const var& a, double b);
var operator*(double a, const var& b);
var operator/(const var& a, double b);
var operator/(double a, const var& b);

// ---- reductions --------------------------------------------------------------------------------
var sum(const var& x);  // all elements, a 0-d result
var sum(const var& x, std::int64_t axis, bool keepdims = false);
var mean(const var& x);
var mean(const var& x, std::int64_t axis, bool keepdims = false);
var max(const var& x, std::int64_t axis, bool keepdims = false);

// ---- linear algebra (through BLAS, no transposed copies) ----------------------------------------
var matmul(const var& a, const var& b);  // [m,k]·[k,n] or [batch,m,k]·[k,n]
var linear(const var& x, const var& w);  // x·wᵀ, w: [out, in] (PyTorch layout), x: [..., in]
var linear(const var& x, const var& w, const var& b);  // x·wᵀ + b
var transpose(const var& x);             // swaps the last two axes

// ---- shape and indexing ------------------------------------------------------------------------
var reshape(const var& x, const shape_t& shape);
var slice(const var& x, std::int64_t axis, std::size_t start, std::size_t stop);
var concat(std::span<const var> xs, std::int64_t axis);
var concat(std::initializer_list<var> xs, std::int64_t axis);
var stack(std::span<const var> xs, std::int64_t axis);
var stack(std::initializer_list<var> xs, std::int64_t axis);
// Removes `axis`, keeping entry `index`: select(x, 1, t) is time step t of a [batch, time, feature] x.
var select(const var& x, std::int64_t axis, std::size_t index);
// Rows of weight [vocab, dim] picked by integer-valued indices (any shape): result indices.shape + [dim].
var embedding(const var& indices, const var& weight);

// ---- activations -------------------------------------------------------------------------------
var sigmoid(const var& x);
var tanh(const var& x);
var relu(const var& x);
var leaky_relu(const var& x, double slope = 0.01);
var elu(const var& x, double alpha = 1.0);
var gelu(const var& x);  // exact (erf) form
var softplus(const var& x);
var hard_tanh(const var& x, double lo = -1.0, double hi = 1.0);
var softmax(const var& x, std::int64_t axis = -1);
var log_softmax(const var& x, std::int64_t axis = -1);

// An elementwise activation by registry name with default settings ("tanh", "sigmoid", "relu",
// "leaky_relu", "elu", "gelu", "softplus", "hard_tanh"); throws argument_error for other names.
var activation(std::string_view name, const var& x);
// Names accepted by activation().
std::vector<std::string_view> activation_names();

// ---- losses (mean over elements / rows) --------------------------------------------------------
var mse(const var& pred, const var& target);              // shapes must match exactly
var bce(const var& prob, const var& target);              // prob in (0, 1)
var bce_with_logits(const var& logits, const var& target);
var cross_entropy(const var& logits, const var& classes);  // logits [N, C], classes [N] of indices

// Threads of the BLAS library behind matmul and linear (OpenBLAS).
void set_num_threads(int n);
int num_threads();

}  // namespace xgrad
