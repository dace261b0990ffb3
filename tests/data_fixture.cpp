// Writes the small data files of the `xgrad train --data` / `xgrad predict` ctests (tests/data_cli.cmake)
// into the folder given: good CSV and .npz files, and one bad file per class of bad data.
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: data_fixture FOLDER\n";
        return 2;
    }
    const std::string dir = argv[1];
    rng gen(11);
    // classify.csv: 120 samples of 4 steps x 2 features, label = (sum of the first feature > 2)
    {
        std::ofstream f(dir + "/classify.csv");
        f << "x0,x1,x2,x3,x4,x5,x6,x7,label\n";
        for (int i = 0; i < 120; ++i) {
            double s = 0;
            for (int k = 0; k < 8; ++k) {
                const double v = gen.uniform();
                if (k % 2 == 0) s += v;
                f << v << ",";
            }
            f << (s > 2 ? 1 : 0) << "\n";
        }
    }
    // series.csv: two columns of 80 steps, for --window
    {
        std::ofstream f(dir + "/series.csv");
        f << "a,b\n";
        for (int t = 0; t < 80; ++t) f << std::sin(0.3 * t) << "," << std::cos(0.2 * t) << "\n";
    }
    const auto text = [&](const std::string& name, const std::string& body) { std::ofstream(dir + "/" + name) << body; };
    text("ragged.csv", "1,2,3,0\n4,5,6,1\n7,8,1\n");
    text("nonnumeric.csv", "1,2,3,0\n4,five,6,1\n");
    text("nan.csv", "1,2,3,0\n4,5,nan,1\n");
    text("fraction_label.csv", "1,2,3,0\n4,5,6,0.5\n");
    text("label3.csv", "1,2,3,4,5,6,7,8,0\n1,2,3,4,5,6,7,8,3\n");  // a class the training data (0, 1) lacks
    // regress.npz: X [40, 5, 1], y [40] = the sum over time
    nn::labelled_data d;
    d.x = tensor::zeros({40, 5, 1}, dtype::float64);
    d.y = tensor::zeros({40, 1}, dtype::float64);
    for (std::size_t i = 0; i < 40; ++i) {
        double s = 0;
        for (std::size_t t = 0; t < 5; ++t) {
            const double v = gen.uniform();
            d.x.set_flat(i * 5 + t, v);
            s += v;
        }
        d.y.set_flat(i, s);
    }
    d.lengths.assign(40, 5);
    nn::write_npz_dataset(dir + "/regress.npz", d);
    tensor nan_x = d.x;
    nan_x.set_flat(17, std::nan(""));  // sample 3, step 2
    nn::save_npz(dir + "/nan.npz", {{"X", nan_x}, {"y", d.y}});
    nn::save_npz(dir + "/rank.npz", {{"X", tensor::zeros({40}, dtype::float64)}, {"y", d.y}});
    tensor len = tensor::full({40}, 5.0, dtype::float64);
    len.set_flat(6, 0);
    nn::save_npz(dir + "/length_zero.npz", {{"X", d.x}, {"y", d.y}, {"lengths", len}});
    len.set_flat(6, 9);
    nn::save_npz(dir + "/length_long.npz", {{"X", d.x}, {"y", d.y}, {"lengths", len}});
    len.set_flat(6, 3);
    nn::save_npz(dir + "/length_short.npz", {{"X", d.x}, {"y", d.y}, {"lengths", len}});
    tensor labels = tensor::zeros({40}, dtype::float64);
    labels.set_flat(5, 1);
    labels.set_flat(9, -2);
    nn::save_npz(dir + "/label_negative.npz", {{"X", d.x}, {"y", labels}});
    return 0;
}
