#pragma once
// The op registry: one enum and one table. The table drives op names in DOT labels and error
// messages, `xgrad check`, the gradient-check loop in the tests and the op table in the docs.
// static_asserts keep the enum and the table the same size and in the same order, so an op
// cannot be added without its entry.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace xgrad {

enum class op : std::uint16_t {
    // arithmetic (NumPy broadcasting for the binary ones)
    add, sub, mul, div, neg, pow, exp, log, sqrt, abs, square, clamp, dropout,
    // reductions
    sum, mean, max,
    // linear algebra (BLAS)
    matmul, linear, linear_at, transpose,
    // shape and indexing
    reshape, slice, concat, stack, select, reverse_time, embedding,
    // variable-length sequences (per-row lengths; ops/sequence.cpp)
    mask_step, mask_padding,
    // activations
    sigmoid, tanh, relu, leaky_relu, elu, gelu, softplus, hard_tanh, softmax, log_softmax,
    // recurrent cells (the elementwise part of an LSTM / GRU step in one op)
    lstm_state, lstm_output, gru_cell, gru_cell_at,
    // losses (mean over the batch)
    mse, bce, bce_with_logits, cross_entropy,
    count_
};

enum class family : std::uint8_t { arithmetic, reduction, linalg, shape, activation, cell, loss };

struct op_info {
    op id;
    std::string_view name;
    int min_arity;
    int max_arity;  // -1: any number (concat, stack)
    family fam;
    std::string_view math;  // forward and backward in one line: the op's maths, stated here once
};

inline constexpr op_info op_table[] = {
    {op::add, "add", 2, 2, family::arithmetic, "y = a + b;  da = sum_to(dy), db = sum_to(dy)"},
    {op::sub, "sub", 2, 2, family::arithmetic, "y = a - b;  da = sum_to(dy), db = -sum_to(dy)"},
    {op::mul, "mul", 2, 2, family::arithmetic, "y = a * b;  da = sum_to(dy b), db = sum_to(dy a)"},
    {op::div, "div", 2, 2, family::arithmetic, "y = a / b;  da = sum_to(dy / b), db = -sum_to(dy a / b^2)"},
    {op::neg, "neg", 1, 1, family::arithmetic, "y = -x;  dx = -dy"},
    {op::pow, "pow", 1, 1, family::arithmetic, "y = x^p (p scalar);  dx = dy p x^(p-1)"},
    {op::exp, "exp", 1, 1, family::arithmetic, "y = e^x;  dx = dy y"},
    {op::log, "log", 1, 1, family::arithmetic, "y = ln x;  dx = dy / x"},
    {op::sqrt, "sqrt", 1, 1, family::arithmetic, "y = sqrt(x);  dx = dy / (2 y)"},
    {op::abs, "abs", 1, 1, family::arithmetic, "y = |x|;  dx = dy sign(x), 0 at x = 0"},
    {op::square, "square", 1, 1, family::arithmetic, "y = x^2;  dx = 2 x dy"},
    {op::clamp, "clamp", 1, 1, family::arithmetic, "y = min(max(x, lo), hi);  dx = dy where lo <= x <= hi, else 0"},
    {op::dropout, "dropout", 1, 1, family::arithmetic, "y = x m, m_i = 0 (probability p) or 1/(1-p), drawn from a seed;  dx = dy m"},
    {op::sum, "sum", 1, 1, family::reduction, "y = sum_axis x;  dx = broadcast(dy)"},
    {op::mean, "mean", 1, 1, family::reduction, "y = sum_axis x / n;  dx = broadcast(dy) / n"},
    {op::max, "max", 1, 1, family::reduction, "y = max_axis x;  dx = dy at the first maximum, 0 elsewhere"},
    {op::matmul, "matmul", 2, 2, family::linalg, "Y = A B (A: [m,k] or [b,m,k], B: [k,n]);  dA = dY B^T, dB = A^T dY"},
    {op::linear, "linear", 2, 3, family::linalg, "Y = X W^T + b (b: [out], or Y's shape);  dX = dY W, dW = dY^T X, db = sum_rows dY (or dY)"},
    {op::linear_at, "linear_at", 3, 3, family::linalg, "Y = X W^T + A[:, t] (A: [batch, T, out], a sequence's projection);  dX = dY W, dW = dY^T X, dA[:, t] += dY"},
    {op::transpose, "transpose", 1, 1, family::linalg, "Y = X^T (last two axes);  dX = dY^T"},
    {op::reshape, "reshape", 1, 1, family::shape, "y = x viewed as another shape;  dx = dy viewed back"},
    {op::slice, "slice", 1, 1, family::shape, "y = x[start:stop] along axis;  dx[start:stop] += dy"},
    {op::concat, "concat", 1, -1, family::shape, "y = [x0 | x1 | ...] along axis;  dxi = its block of dy"},
    {op::stack, "stack", 1, -1, family::shape, "y = [x0, x1, ...] on a new axis;  dxi = dy[i]"},
    {op::select, "select", 1, 1, family::shape, "y = x[..., i, ...] (axis removed, e.g. time step t);  dx[..., i, ...] += dy"},
    {op::reverse_time, "reverse_time", 1, 1, family::shape, "y[b, t] = x[b, len_b - 1 - t] for t < len_b, else x[b, t] (padding stays);  dx = the same permutation of dy"},
    {op::embedding, "embedding", 2, 2, family::shape, "y = W[idx];  dW[idx] += dy (idx not differentiable)"},
    {op::mask_step, "mask_step", 3, 3, family::shape, "y[b] = t < len_b ? h[b] : h'[b] (rows copied, len not differentiable);  dh[b] += dy[b] where t < len_b, dh'[b] += dy[b] elsewhere"},
    {op::mask_padding, "mask_padding", 2, 2, family::shape, "y[b, t] = t < len_b ? x[b, t] : 0 (len not differentiable);  dx[b, t] += dy[b, t] where t < len_b"},
    {op::sigmoid, "sigmoid", 1, 1, family::activation, "y = 1 / (1 + e^-x);  dx = dy y (1 - y)"},
    {op::tanh, "tanh", 1, 1, family::activation, "y = tanh x;  dx = dy (1 - y^2)"},
    {op::relu, "relu", 1, 1, family::activation, "y = max(x, 0);  dx = dy [x > 0] (0 at x = 0)"},
    {op::leaky_relu, "leaky_relu", 1, 1, family::activation, "y = x > 0 ? x : s x;  dx = dy (x > 0 ? 1 : s)"},
    {op::elu, "elu", 1, 1, family::activation, "y = x > 0 ? x : a (e^x - 1);  dx = dy (x > 0 ? 1 : y + a)"},
    {op::gelu, "gelu", 1, 1, family::activation, "y = x Phi(x);  dx = dy (Phi(x) + x phi(x))"},
    {op::softplus, "softplus", 1, 1, family::activation, "y = ln(1 + e^x);  dx = dy sigmoid(x)"},
    {op::hard_tanh, "hard_tanh", 1, 1, family::activation, "y = clamp(x, lo, hi);  dx = dy where lo < x < hi, else 0"},
    {op::softmax, "softmax", 1, 1, family::activation, "y = e^x / sum e^x;  dx = y (dy - sum(dy y))"},
    {op::log_softmax, "log_softmax", 1, 1, family::activation, "y = x - logsumexp x;  dx = dy - softmax(x) sum dy"},
    {op::lstm_state, "lstm_state", 2, 2, family::cell, "c = sig(g_f) c' + sig(g_i) tanh(g_g) (g = [i|f|g|o]);  dg_i = dc tanh(g_g) sig'(g_i), dg_f = dc c' sig'(g_f), dg_g = dc sig(g_i) (1 - tanh^2 g_g), dc' = dc sig(g_f)"},
    {op::lstm_output, "lstm_output", 2, 2, family::cell, "h = sig(g_o) tanh(c);  dg_o = dh tanh(c) sig'(g_o), dc = dh sig(g_o) (1 - tanh^2 c)"},
    {op::gru_cell, "gru_cell", 3, 3, family::cell, "h = (1 - z) n + z h', r = sig(x_r + h_r), z = sig(x_z + h_z), n = tanh(x_n + r h_n);  dh' = dh z, dx_z = dh_z = dh (h' - n) sig'(.), dx_n = dh (1 - z)(1 - n^2), dh_n = dx_n r, dx_r = dh_r = dx_n h_n sig'(.)"},
    {op::gru_cell_at, "gru_cell_at", 3, 3, family::cell, "gru_cell with x = X[:, t] (X: [batch, T, 3H], a sequence's projection), read in place;  dX[:, t] += dx"},
    {op::mse, "mse", 2, 3, family::loss, "L = mean (p - t)^2 (with lengths: over the valid steps t < len_b of p [B, T, ...]);  dp = 2 (p - t) / N, dt = -dp (0 at padded steps)"},
    {op::bce, "bce", 2, 2, family::loss, "L = -mean(t ln p + (1-t) ln(1-p));  dp = (p - t) / (p (1-p) N)"},
    {op::bce_with_logits, "bce_with_logits", 2, 3, family::loss, "L = mean(max(z,0) - z t + ln(1 + e^-|z|)) (with lengths: over the valid steps);  dz = (sigmoid(z) - t) / N"},
    {op::cross_entropy, "cross_entropy", 2, 2, family::loss, "L = -mean log_softmax(z)[i, t_i];  dz = (softmax(z) - onehot(t)) / N"},
};

inline constexpr std::size_t op_count = static_cast<std::size_t>(op::count_);
static_assert(std::size(op_table) == op_count, "every op needs exactly one op_table entry");

constexpr bool op_table_in_enum_order() {
    for (std::size_t i = 0; i < op_count; ++i)
        if (static_cast<std::size_t>(op_table[i].id) != i) return false;
    return true;
}
static_assert(op_table_in_enum_order(), "op_table entries must follow the order of enum class op");

constexpr const op_info& info(op id) { return op_table[static_cast<std::size_t>(id)]; }
// The registry name as a C string (table names are literals, hence NUL-terminated).
constexpr const char* op_name(op id) { return info(id).name.data(); }
std::optional<op> find_op(std::string_view name);
const char* family_name(family f);

}  // namespace xgrad

namespace xgrad {
// The registry as a Markdown table (docs/ops.md is this output; a test keeps them equal).
std::string op_table_markdown();
}  // namespace xgrad
