#include "init.hpp"

#include <cmath>
#include <vector>

namespace xgrad::nn {

tensor zeros(const shape_t& shape, dtype d) { return tensor::zeros(shape, d); }

tensor uniform(const shape_t& shape, double bound, rng& gen, dtype d) {
    return xgrad::uniform(shape, -bound, bound, gen, d);
}

double glorot_bound(std::size_t fan_in, std::size_t fan_out) {
    return std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
}

tensor glorot_uniform(const shape_t& shape, rng& gen, dtype d) {
    if (shape.size() != 2)
        throw shape_error("nn::glorot_uniform: needs a 2-d [out, in] shape, got " + shape_str(shape));
    return uniform(shape, glorot_bound(shape[1], shape[0]), gen, d);
}

tensor uniform_hidden(const shape_t& shape, std::size_t hidden, rng& gen, dtype d) {
    return uniform(shape, 1.0 / std::sqrt(static_cast<double>(hidden)), gen, d);
}

tensor orthogonal(const shape_t& shape, rng& gen, double gain, dtype d) {
    if (shape.size() != 2 || shape[0] == 0 || shape[1] == 0)
        throw shape_error("nn::orthogonal: needs a non-empty 2-d shape, got " + shape_str(shape));
    const std::size_t rows = shape[0], cols = shape[1];
    // Work on a tall m×n matrix A (m >= n), column-major: a[j] is column j.
    const bool tall = rows >= cols;
    const std::size_t m = tall ? rows : cols, n = tall ? cols : rows;
    // Draw in row-major order of the requested [rows, cols] shape (so the draw order is fixed).
    std::vector<double> flat(rows * cols);
    for (auto& v : flat) v = gen.normal();
    std::vector<std::vector<double>> a(n, std::vector<double>(m));
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
            if (tall) a[c][r] = flat[r * cols + c];
            else a[r][c] = flat[r * cols + c];
        }
    // Modified Gram-Schmidt, each column reorthogonalised once more ("twice is enough").
    for (std::size_t j = 0; j < n; ++j) {
        for (int pass = 0; pass < 2; ++pass)
            for (std::size_t k = 0; k < j; ++k) {
                double dot = 0;
                for (std::size_t i = 0; i < m; ++i) dot += a[k][i] * a[j][i];
                for (std::size_t i = 0; i < m; ++i) a[j][i] -= dot * a[k][i];
            }
        double norm = 0;
        for (double v : a[j]) norm += v * v;
        norm = std::sqrt(norm);
        if (norm < 1e-12) throw argument_error("nn::orthogonal: degenerate random draw (rank deficient); use another seed");
        for (double& v : a[j]) v /= norm;
    }
    tensor out = tensor::empty(shape, d);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) out.set_flat(r * cols + c, gain * (tall ? a[c][r] : a[r][c]));
    return out;
}

}  // namespace xgrad::nn
