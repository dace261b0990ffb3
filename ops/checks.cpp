#include "checks.hpp"

#include "ops.hpp"

namespace xgrad {

namespace {

using in_t = std::span<const var>;
using D = domain;

std::vector<op_check> make_checks() {
    std::vector<op_check> c;
    auto add_case = [&](op id, std::string label, std::vector<shape_t> shapes, std::vector<domain> domains,
                        gradcheck_fn fn, std::size_t classes = 0, std::vector<bool> diff = {}) {
        c.push_back({id, std::move(label), std::move(shapes), std::move(domains), classes, std::move(diff), std::move(fn)});
    };
    // arithmetic
    add_case(op::add, "[3, 4] + [3, 4]", {{3, 4}, {3, 4}}, {D::real, D::real}, [](in_t x) { return add(x[0], x[1]); });
    add_case(op::add, "[3, 4] + [4]", {{3, 4}, {4}}, {D::real, D::real}, [](in_t x) { return x[0] + x[1]; });
    add_case(op::add, "[2, 1, 3] + [4, 1]", {{2, 1, 3}, {4, 1}}, {D::real, D::real}, [](in_t x) { return x[0] + x[1]; });
    add_case(op::add, "[1, 4] + [1]", {{1, 4}, {1}}, {D::real, D::real}, [](in_t x) { return x[0] + x[1]; });
    add_case(op::sub, "[3, 4] - [3, 1]", {{3, 4}, {3, 1}}, {D::real, D::real}, [](in_t x) { return sub(x[0], x[1]); });
    add_case(op::sub, "[4] - [2, 3, 4]", {{4}, {2, 3, 4}}, {D::real, D::real}, [](in_t x) { return x[0] - x[1]; });
    add_case(op::mul, "[3, 4] * [4]", {{3, 4}, {4}}, {D::real, D::real}, [](in_t x) { return mul(x[0], x[1]); });
    add_case(op::mul, "[] * [3]", {{}, {3}}, {D::real, D::real}, [](in_t x) { return x[0] * x[1]; });
    add_case(op::mul, "[1, 5] * [1, 5]", {{1, 5}, {1, 5}}, {D::real, D::real}, [](in_t x) { return x[0] * x[1]; });
    add_case(op::div, "[3, 4] / [4]", {{3, 4}, {4}}, {D::real, D::nonzero}, [](in_t x) { return div(x[0], x[1]); });
    add_case(op::div, "[1, 5] / [1, 5]", {{1, 5}, {1, 5}}, {D::real, D::nonzero}, [](in_t x) { return x[0] / x[1]; });
    add_case(op::neg, "[3, 4]", {{3, 4}}, {D::real}, [](in_t x) { return -x[0]; });
    add_case(op::pow, "[3, 4] ^ 2.5", {{3, 4}}, {D::positive}, [](in_t x) { return pow(x[0], 2.5); });
    add_case(op::pow, "[1, 3] ^ -1.5", {{1, 3}}, {D::positive}, [](in_t x) { return pow(x[0], -1.5); });
    add_case(op::pow, "[2, 3] ^ 3 (negative base)", {{2, 3}}, {D::real}, [](in_t x) { return pow(x[0], 3.0); });
    add_case(op::exp, "[3, 4]", {{3, 4}}, {D::real}, [](in_t x) { return exp(x[0]); });
    add_case(op::log, "[3, 4]", {{3, 4}}, {D::positive}, [](in_t x) { return log(x[0]); });
    add_case(op::sqrt, "[3, 4]", {{3, 4}}, {D::positive}, [](in_t x) { return sqrt(x[0]); });
    add_case(op::abs, "[3, 4]", {{3, 4}}, {D::off_kinks}, [](in_t x) { return abs(x[0]); });
    add_case(op::square, "[3, 4]", {{3, 4}}, {D::real}, [](in_t x) { return square(x[0]); });
    add_case(op::clamp, "[3, 4] in [-0.5, 0.5]", {{3, 4}}, {D::off_kinks}, [](in_t x) { return clamp(x[0], -0.5, 0.5); });
    // a fixed seed fixes the mask, so every evaluation of the check sees the same function
    add_case(op::dropout, "[4, 5] p 0.3 seed 42", {{4, 5}}, {D::real}, [](in_t x) { return dropout(x[0], 0.3, 42); });
    add_case(op::dropout, "[2, 3, 4] p 0.5 seed 7", {{2, 3, 4}}, {D::real}, [](in_t x) { return dropout(x[0], 0.5, 7); });
    // reductions
    add_case(op::sum, "[3, 4] all", {{3, 4}}, {D::real}, [](in_t x) { return sum(x[0]); });
    add_case(op::sum, "[3, 4] axis 0", {{3, 4}}, {D::real}, [](in_t x) { return sum(x[0], 0); });
    add_case(op::sum, "[2, 3, 4] axis -1 keepdims", {{2, 3, 4}}, {D::real}, [](in_t x) { return sum(x[0], -1, true); });
    add_case(op::sum, "[1, 5] axis 1", {{1, 5}}, {D::real}, [](in_t x) { return sum(x[0], 1); });
    add_case(op::mean, "[3, 4] all", {{3, 4}}, {D::real}, [](in_t x) { return mean(x[0]); });
    add_case(op::mean, "[2, 3, 4] axis 1", {{2, 3, 4}}, {D::real}, [](in_t x) { return mean(x[0], 1); });
    add_case(op::mean, "[1, 5] axis 0 keepdims", {{1, 5}}, {D::real}, [](in_t x) { return mean(x[0], 0, true); });
    add_case(op::max, "[3, 4] axis 1", {{3, 4}}, {D::real}, [](in_t x) { return max(x[0], 1); });
    add_case(op::max, "[2, 3, 4] axis 0 keepdims", {{2, 3, 4}}, {D::real}, [](in_t x) { return max(x[0], 0, true); });
    add_case(op::max, "[1, 5] axis -1", {{1, 5}}, {D::real}, [](in_t x) { return max(x[0], -1); });
    // linear algebra
    add_case(op::matmul, "[3, 4] . [4, 5]", {{3, 4}, {4, 5}}, {D::real, D::real}, [](in_t x) { return matmul(x[0], x[1]); });
    add_case(op::matmul, "[2, 3, 4] . [4, 2]", {{2, 3, 4}, {4, 2}}, {D::real, D::real}, [](in_t x) { return matmul(x[0], x[1]); });
    add_case(op::matmul, "[1, 4] . [4, 3]", {{1, 4}, {4, 3}}, {D::real, D::real}, [](in_t x) { return matmul(x[0], x[1]); });
    add_case(op::linear, "[3, 4] W[5, 4] b[5]", {{3, 4}, {5, 4}, {5}}, {D::real, D::real, D::real},
             [](in_t x) { return linear(x[0], x[1], x[2]); });
    add_case(op::linear, "[2, 3, 4] W[5, 4]", {{2, 3, 4}, {5, 4}}, {D::real, D::real}, [](in_t x) { return linear(x[0], x[1]); });
    add_case(op::linear, "[2, 3, 1] W[5, 1] b[5] (one feature)", {{2, 3, 1}, {5, 1}, {5}}, {D::real, D::real, D::real},
             [](in_t x) { return linear(x[0], x[1], x[2]); });
    add_case(op::linear, "[3, 4] W[5, 4] + addend[3, 5]", {{3, 4}, {5, 4}, {3, 5}}, {D::real, D::real, D::real},
             [](in_t x) { return linear(x[0], x[1], x[2]); });
    add_case(op::linear_at, "[3, 4] W[5, 4] + A[3, 2, 5] step 1", {{3, 4}, {5, 4}, {3, 2, 5}},
             {D::real, D::real, D::real}, [](in_t x) { return linear_at(x[0], x[1], x[2], 1); });
    add_case(op::linear, "[1, 4] W[2, 4] b[2]", {{1, 4}, {2, 4}, {2}}, {D::real, D::real, D::real},
             [](in_t x) { return linear(x[0], x[1], x[2]); });
    add_case(op::transpose, "[3, 4]", {{3, 4}}, {D::real}, [](in_t x) { return transpose(x[0]); });
    add_case(op::transpose, "[2, 3, 4]", {{2, 3, 4}}, {D::real}, [](in_t x) { return transpose(x[0]); });
    // shape and indexing
    add_case(op::reshape, "[3, 4] -> [2, 6]", {{3, 4}}, {D::real}, [](in_t x) { return reshape(x[0], {2, 6}); });
    add_case(op::reshape, "[2, 3, 4] -> [24]", {{2, 3, 4}}, {D::real}, [](in_t x) { return reshape(x[0], {24}); });
    add_case(op::slice, "[3, 5] axis 1 [1:4]", {{3, 5}}, {D::real}, [](in_t x) { return slice(x[0], 1, 1, 4); });
    add_case(op::slice, "[4, 3] axis 0 [0:1]", {{4, 3}}, {D::real}, [](in_t x) { return slice(x[0], 0, 0, 1); });
    add_case(op::concat, "[2, 3] | [2, 4] axis 1", {{2, 3}, {2, 4}}, {D::real, D::real},
             [](in_t x) { return concat(x, 1); });
    add_case(op::concat, "[1, 3] | [2, 3] | [3, 3] axis 0", {{1, 3}, {2, 3}, {3, 3}}, {D::real, D::real, D::real},
             [](in_t x) { return concat(x, 0); });
    add_case(op::stack, "3 x [2, 3] axis 1", {{2, 3}, {2, 3}, {2, 3}}, {D::real, D::real, D::real},
             [](in_t x) { return stack(x, 1); });
    add_case(op::stack, "2 x [4] axis 0", {{4}, {4}}, {D::real, D::real}, [](in_t x) { return stack(x, 0); });
    add_case(op::select, "[2, 5, 3] time step 3", {{2, 5, 3}}, {D::real}, [](in_t x) { return select(x[0], 1, 3); });
    add_case(op::select, "[1, 4, 2] time step 0", {{1, 4, 2}}, {D::real}, [](in_t x) { return select(x[0], 1, 0); });
    add_case(op::reverse_time, "[2, 5, 3] all steps", {{2, 5, 3}}, {D::real}, [](in_t x) { return reverse_time(x[0]); });
    add_case(op::reverse_time, "[3, 4, 2] lengths [4, 1, 3]", {{3, 4, 2}}, {D::real},
             [](in_t x) { return reverse_time(x[0], {4, 1, 3}); });
    add_case(op::reverse_time, "[2, 3] lengths [0, 2]", {{2, 3}}, {D::real},
             [](in_t x) { return reverse_time(x[0], {0, 2}); });
    add_case(op::embedding, "idx[3] W[5, 4]", {{3}, {5, 4}}, {D::index, D::real},
             [](in_t x) { return embedding(x[0], x[1]); }, 5, {false, true});
    add_case(op::embedding, "idx[2, 3] W[4, 2]", {{2, 3}, {4, 2}}, {D::index, D::real},
             [](in_t x) { return embedding(x[0], x[1]); }, 4, {false, true});
    // variable-length sequences: lengths are index samples, so rows are valid, ended or (0) empty
    add_case(op::mask_step, "h[4, 3] h'[4, 3] len[4] step 1", {{4, 3}, {4, 3}, {4}}, {D::real, D::real, D::index},
             [](in_t x) { return mask_step(x[0], x[1], x[2], 1); }, 3, {true, true, false});
    add_case(op::mask_step, "two steps into one state (dh' through both)", {{3, 2}, {3, 2}, {3}},
             {D::real, D::real, D::index},
             [](in_t x) { return mask_step(tanh(x[0]), mask_step(x[0], x[1], x[2], 0), x[2], 1); }, 3,
             {true, true, false});
    add_case(op::mask_padding, "[3, 4, 2] len[3]", {{3, 4, 2}, {3}}, {D::real, D::index},
             [](in_t x) { return mask_padding(x[0], x[1]); }, 5, {true, false});
    add_case(op::mask_padding, "[2, 3] len[2]", {{2, 3}, {2}}, {D::real, D::index},
             [](in_t x) { return mask_padding(x[0], x[1]); }, 4, {true, false});
    // activations
    add_case(op::sigmoid, "[3, 4]", {{3, 4}}, {D::real}, [](in_t x) { return sigmoid(x[0]); });
    add_case(op::sigmoid, "[1, 7]", {{1, 7}}, {D::real}, [](in_t x) { return sigmoid(x[0]); });
    add_case(op::tanh, "[3, 4]", {{3, 4}}, {D::real}, [](in_t x) { return tanh(x[0]); });
    add_case(op::tanh, "[1, 7]", {{1, 7}}, {D::real}, [](in_t x) { return tanh(x[0]); });
    add_case(op::relu, "[3, 4]", {{3, 4}}, {D::off_kinks}, [](in_t x) { return relu(x[0]); });
    add_case(op::leaky_relu, "[3, 4] slope 0.1", {{3, 4}}, {D::off_kinks}, [](in_t x) { return leaky_relu(x[0], 0.1); });
    add_case(op::elu, "[3, 4] alpha 1", {{3, 4}}, {D::off_kinks}, [](in_t x) { return elu(x[0]); });
    add_case(op::elu, "[2, 3] alpha 0.5", {{2, 3}}, {D::off_kinks}, [](in_t x) { return elu(x[0], 0.5); });
    add_case(op::gelu, "[3, 4]", {{3, 4}}, {D::real}, [](in_t x) { return gelu(x[0]); });
    add_case(op::softplus, "[3, 4]", {{3, 4}}, {D::real}, [](in_t x) { return softplus(x[0]); });
    add_case(op::hard_tanh, "[3, 4]", {{3, 4}}, {D::off_kinks}, [](in_t x) { return hard_tanh(x[0]); });
    add_case(op::softmax, "[3, 4] axis -1", {{3, 4}}, {D::real}, [](in_t x) { return softmax(x[0]); });
    add_case(op::softmax, "[2, 3, 4] axis 1", {{2, 3, 4}}, {D::real}, [](in_t x) { return softmax(x[0], 1); });
    add_case(op::log_softmax, "[3, 4] axis -1", {{3, 4}}, {D::real}, [](in_t x) { return log_softmax(x[0]); });
    add_case(op::log_softmax, "[2, 3, 4] axis 0", {{2, 3, 4}}, {D::real}, [](in_t x) { return log_softmax(x[0], 0); });
    // recurrent cells
    add_case(op::lstm_state, "gates[3, 8] c[3, 2]", {{3, 8}, {3, 2}}, {D::real, D::real},
             [](in_t x) { return lstm_state(x[0], x[1]); });
    add_case(op::lstm_state, "gates[2, 76] c[2, 19] (SIMD lanes and a tail)", {{2, 76}, {2, 19}}, {D::real, D::real},
             [](in_t x) { return lstm_state(x[0], x[1]); });
    add_case(op::lstm_output, "gates[3, 8] c[3, 2]", {{3, 8}, {3, 2}}, {D::real, D::real},
             [](in_t x) { return lstm_output(x[0], x[1]); });
    add_case(op::lstm_output, "gates[2, 76] c[2, 19]", {{2, 76}, {2, 19}}, {D::real, D::real},
             [](in_t x) { return lstm_output(x[0], x[1]); });
    add_case(op::lstm_output, "one gates tensor for both (an LSTM step)", {{2, 12}, {2, 3}}, {D::real, D::real},
             [](in_t x) { return lstm_output(x[0], lstm_state(x[0], x[1])); });
    add_case(op::gru_cell, "x[3, 6] h[3, 6] h'[3, 2]", {{3, 6}, {3, 6}, {3, 2}}, {D::real, D::real, D::real},
             [](in_t x) { return gru_cell(x[0], x[1], x[2]); });
    add_case(op::gru_cell, "x[2, 57] h[2, 57] h'[2, 19]", {{2, 57}, {2, 57}, {2, 19}}, {D::real, D::real, D::real},
             [](in_t x) { return gru_cell(x[0], x[1], x[2]); });
    add_case(op::gru_cell_at, "X[3, 4, 6] step 2, h[3, 6] h'[3, 2]", {{3, 4, 6}, {3, 6}, {3, 2}},
             {D::real, D::real, D::real}, [](in_t x) { return gru_cell_at(x[0], x[1], x[2], 2); });
    add_case(op::gru_cell_at, "two steps of X[2, 3, 57] into one h (dX from both)", {{2, 3, 57}, {2, 57}, {2, 19}},
             {D::real, D::real, D::real},
             [](in_t x) { return gru_cell_at(x[0], x[1], gru_cell_at(x[0], x[1], x[2], 0), 1); });
    // losses
    add_case(op::mse, "[4, 3] vs [4, 3]", {{4, 3}, {4, 3}}, {D::real, D::real}, [](in_t x) { return mse(x[0], x[1]); });
    add_case(op::mse, "[1, 1] vs [1, 1]", {{1, 1}, {1, 1}}, {D::real, D::real}, [](in_t x) { return mse(x[0], x[1]); });
    add_case(op::mse, "[3, 4, 2] vs [3, 4, 2] over lengths[3]", {{3, 4, 2}, {3, 4, 2}, {3}},
             {D::real, D::real, D::index}, [](in_t x) { return mse(x[0], x[1], x[2]); }, 5,
             {true, true, false});
    add_case(op::bce, "[4, 3] vs [4, 3]", {{4, 3}, {4, 3}}, {D::unit, D::unit}, [](in_t x) { return bce(x[0], x[1]); });
    add_case(op::bce_with_logits, "[4, 3] vs [4, 3]", {{4, 3}, {4, 3}}, {D::real, D::unit},
             [](in_t x) { return bce_with_logits(x[0], x[1]); });
    add_case(op::bce_with_logits, "[3, 4] vs [3, 4] over lengths[3]", {{3, 4}, {3, 4}, {3}},
             {D::real, D::unit, D::index}, [](in_t x) { return bce_with_logits(x[0], x[1], x[2]); }, 5,
             {true, true, false});
    add_case(op::cross_entropy, "[4, 5] vs classes[4]", {{4, 5}, {4}}, {D::real, D::index},
             [](in_t x) { return cross_entropy(x[0], x[1]); }, 5, {true, false});
    add_case(op::cross_entropy, "[1, 3] vs classes[1]", {{1, 3}, {1}}, {D::real, D::index},
             [](in_t x) { return cross_entropy(x[0], x[1]); }, 3, {true, false});
    return c;
}

}  // namespace

const std::vector<op_check>& op_checks() {
    static const std::vector<op_check> checks = make_checks();
    return checks;
}

op_check_result run_op_check(const op_check& c, std::uint64_t seed) {
    rng gen(seed * 1000003 + static_cast<std::uint64_t>(c.id));
    std::vector<tensor> inputs;
    for (std::size_t i = 0; i < c.shapes.size(); ++i)
        inputs.push_back(sample(c.shapes[i], c.domains[i], gen, dtype::float64, c.classes));
    gradcheck_options opt;
    opt.seed = seed;
    opt.check = c.differentiable;
    return {&c, gradcheck(c.apply, std::move(inputs), opt)};
}

std::vector<op_check_result> run_op_checks(std::uint64_t seed) {
    std::vector<op_check_result> out;
    for (const auto& c : op_checks()) out.push_back(run_op_check(c, seed));
    return out;
}

}  // namespace xgrad
