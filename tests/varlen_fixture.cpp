// Writes the variable-length data files of tests/varlen_cli.cmake into the directory argv[1]:
//   varlen.npz      X [40, 6, 2], lengths 1..6, y = Σ of the valid steps' first feature [40, 1]; padding 0
//   varlen_pad.npz  the same samples with every padded step set to 1e6 (predictions must not change)
#include <cstdio>
#include <string>

#include <xgrad/xgrad.hpp>

using namespace xgrad;
namespace nn = xgrad::nn;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: varlen_fixture DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    const std::size_t N = 40, T = 6, F = 2;
    rng gen(15);
    nn::labelled_data d;
    d.x = tensor::zeros({N, T, F}, dtype::float64);
    d.y = tensor::zeros({N, 1}, dtype::float64);
    for (std::size_t i = 0; i < N; ++i) {
        const std::size_t len = 1 + i % T;
        d.lengths.push_back(len);
        double s = 0;
        for (std::size_t t = 0; t < len; ++t)
            for (std::size_t f = 0; f < F; ++f) {
                const double v = gen.uniform();
                d.x.set_flat((i * T + t) * F + f, v);
                if (f == 0) s += v;
            }
        d.y.set_flat(i, s);
    }
    nn::write_npz_dataset(dir + "/varlen.npz", d);
    for (std::size_t i = 0; i < N; ++i)
        for (std::size_t t = d.lengths[i]; t < T; ++t)
            for (std::size_t f = 0; f < F; ++f) d.x.set_flat((i * T + t) * F + f, 1e6);
    nn::write_npz_dataset(dir + "/varlen_pad.npz", d);
    return 0;
}
