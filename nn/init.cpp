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
    auto project_out = [&](std::vector<double>& x, const std::vector<double>& q, bool wide) {
        double dot = 0;
        std::size_t i = 0;
        if (wide) {  // 32 interleaved partial sums: a fixed order the compiler can vectorise
            double part[32] = {};
            for (; i + 32 <= m; i += 32)
                for (std::size_t l = 0; l < 32; ++l) part[l] += q[i + l] * x[i + l];
            for (std::size_t w = 16; w > 0; w /= 2)
                for (std::size_t l = 0; l < w; ++l) part[l] += part[l + w];
            dot = part[0];
        }
        for (; i < m; ++i) dot += q[i] * x[i];
        for (i = 0; i < m; ++i) x[i] -= dot * q[i];
    };
    auto normalise = [&](std::vector<double>& x) {
        double norm = 0;
        for (double v : x) norm += v * v;
        norm = std::sqrt(norm);
        if (norm < 1e-12) throw argument_error("nn::orthogonal: degenerate random draw (rank deficient); use another seed");
        for (double& v : x) v /= norm;
    };
    if (m * n < (std::size_t(1) << 18)) {
        for (std::size_t j = 0; j < n; ++j) {
            for (int pass = 0; pass < 2; ++pass)
                for (std::size_t k = 0; k < j; ++k) project_out(a[j], a[k], false);
            normalise(a[j]);
        }
    } else {
        // From 2¹⁸ elements on (an LSTM-1024's [4096, 1024] weight took 7.7 s column by column, a
        // chain of dependent additions reading every earlier column twice per column), columns go
        // in blocks of 16: each earlier column is read once per block and projected out of all 16
        // (twice), then the block is orthonormalised within itself, twice. Vectorised dot products.
        constexpr std::size_t block = 16;
        for (std::size_t j0 = 0; j0 < n; j0 += block) {
            const std::size_t j1 = std::min(n, j0 + block);
            for (int pass = 0; pass < 2; ++pass)
                for (std::size_t k = 0; k < j0; ++k)
                    for (std::size_t j = j0; j < j1; ++j) project_out(a[j], a[k], true);
            for (std::size_t j = j0; j < j1; ++j) {
                for (int pass = 0; pass < 2; ++pass)
                    for (std::size_t k = j0; k < j; ++k) project_out(a[j], a[k], true);
                normalise(a[j]);
            }
        }
    }
    tensor out = tensor::empty(shape, d);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) out.set_flat(r * cols + c, gain * (tall ? a[c][r] : a[r][c]));
    return out;
}

}  // namespace xgrad::nn
