// xgrad_bench_torch: the xgrad bench workloads run with libtorch (benchmark-only companion,
// built only when CMake finds Torch). Two model forms per configuration:
//   fused    torch::nn::RNN / LSTM / GRU (batch_first) + torch::nn::Linear(H, 1)
//   unrolled the same cell written from primitive ops (linear, tanh, sigmoid, mul, add), one time
//            step at a time, exactly as xgrad records it
// Both train with MSE and torch::optim::Adam(lr 1e-3); the figure is the median ms per training
// step (zero_grad + forward + backward + Adam step) over --iters steps after warm-up.
//
//   xgrad_bench_torch [--cell rnn|lstm|gru] [--hidden 50] [--steps 10] [--batch 32]
//                     [--dtype float32|float64] [--threads 1] [--iters 200] [--mode fused|unrolled|both]
//                     [--json]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace {

struct config {
    std::string cell = "rnn";
    int64_t hidden = 50, steps = 10, batch = 32;
    std::string dtype = "float32";
    int threads = 1, iters = 200;
    std::string mode = "both";
    bool json = false;
};

int64_t gates(const std::string& cell) { return cell == "lstm" ? 4 : cell == "gru" ? 3 : 1; }

// The cell from primitive ops (PyTorch's gate order and GRU formula).
struct unrolled : torch::nn::Module {
    std::string cell;
    int64_t h;
    torch::Tensor w_ih, w_hh, b_ih, b_hh;
    torch::nn::Linear head{nullptr};
    unrolled(const std::string& c, int64_t in, int64_t hidden) : cell(c), h(hidden) {
        const int64_t g = gates(c);
        const double k = 1.0 / std::sqrt(double(hidden));
        w_ih = register_parameter("w_ih", torch::empty({g * hidden, in}).uniform_(-k, k));
        w_hh = register_parameter("w_hh", torch::empty({g * hidden, hidden}).uniform_(-k, k));
        b_ih = register_parameter("b_ih", torch::empty({g * hidden}).uniform_(-k, k));
        b_hh = register_parameter("b_hh", torch::empty({g * hidden}).uniform_(-k, k));
        head = register_module("head", torch::nn::Linear(hidden, 1));
    }
    torch::Tensor forward(const torch::Tensor& x) {
        const int64_t b = x.size(0), t_len = x.size(1);
        auto hs = torch::zeros({b, h}, x.options());
        auto cs = torch::zeros({b, h}, x.options());
        for (int64_t t = 0; t < t_len; ++t) {
            auto xt = x.select(1, t);
            auto gi = torch::nn::functional::linear(xt, w_ih, b_ih);
            auto gh = torch::nn::functional::linear(hs, w_hh, b_hh);
            if (cell == "rnn") {
                hs = torch::tanh(gi + gh);
            } else if (cell == "lstm") {
                auto g = gi + gh;
                auto i = torch::sigmoid(g.slice(1, 0, h));
                auto f = torch::sigmoid(g.slice(1, h, 2 * h));
                auto gg = torch::tanh(g.slice(1, 2 * h, 3 * h));
                auto o = torch::sigmoid(g.slice(1, 3 * h, 4 * h));
                cs = f * cs + i * gg;
                hs = o * torch::tanh(cs);
            } else {
                auto r = torch::sigmoid(gi.slice(1, 0, h) + gh.slice(1, 0, h));
                auto z = torch::sigmoid(gi.slice(1, h, 2 * h) + gh.slice(1, h, 2 * h));
                auto n = torch::tanh(gi.slice(1, 2 * h, 3 * h) + r * gh.slice(1, 2 * h, 3 * h));
                hs = (1 - z) * n + z * hs;
            }
        }
        return head->forward(hs);
    }
};

struct fused : torch::nn::Module {
    std::string cell;
    torch::nn::RNN rnn{nullptr};
    torch::nn::LSTM lstm{nullptr};
    torch::nn::GRU gru{nullptr};
    torch::nn::Linear head{nullptr};
    fused(const std::string& c, int64_t in, int64_t hidden) : cell(c) {
        if (c == "rnn") rnn = register_module("rnn", torch::nn::RNN(torch::nn::RNNOptions(in, hidden).batch_first(true)));
        if (c == "lstm") lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(in, hidden).batch_first(true)));
        if (c == "gru") gru = register_module("gru", torch::nn::GRU(torch::nn::GRUOptions(in, hidden).batch_first(true)));
        head = register_module("head", torch::nn::Linear(hidden, 1));
    }
    torch::Tensor forward(const torch::Tensor& x) {
        torch::Tensor out;
        if (cell == "rnn") out = std::get<0>(rnn->forward(x));
        else if (cell == "lstm") out = std::get<0>(lstm->forward(x));
        else out = std::get<0>(gru->forward(x));
        return head->forward(out.select(1, out.size(1) - 1));
    }
};

template <class M>
double time_model(M& model, const config& c, const torch::Tensor& x, const torch::Tensor& y) {
    torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(1e-3));
    std::vector<double> ms;
    const int warm = std::max(5, c.iters / 10);
    for (int i = 0; i < warm + c.iters; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        opt.zero_grad();
        auto loss = torch::mse_loss(model.forward(x), y);
        loss.backward();
        opt.step();
        const auto t1 = std::chrono::steady_clock::now();
        if (i >= warm) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

void run(const config& c, const std::string& mode) {
    torch::manual_seed(0);
    const auto dt = c.dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
    torch::set_default_dtype(caffe2::TypeMeta::fromScalarType(dt));
    auto x = torch::randn({c.batch, c.steps, 1}, torch::dtype(dt));
    auto y = torch::randn({c.batch, 1}, torch::dtype(dt));
    double ms;
    if (mode == "fused") {
        fused m(c.cell, 1, c.hidden);
        ms = time_model(m, c, x, y);
    } else {
        unrolled m(c.cell, 1, c.hidden);
        ms = time_model(m, c, x, y);
    }
    if (c.json)
        std::printf("{\"impl\": \"libtorch-%s\", \"cell\": \"%s\", \"hidden\": %lld, \"steps\": %lld, \"batch\": %lld, "
                    "\"dtype\": \"%s\", \"threads\": %d, \"ms_per_step\": %.4f}\n",
                    mode.c_str(), c.cell.c_str(), (long long)c.hidden, (long long)c.steps, (long long)c.batch,
                    c.dtype.c_str(), c.threads, ms);
    else
        std::printf("libtorch %-8s %-4s hidden %5lld steps %4lld batch %3lld %-7s threads %d: %9.4f ms/step\n",
                    mode.c_str(), c.cell.c_str(), (long long)c.hidden, (long long)c.steps, (long long)c.batch,
                    c.dtype.c_str(), c.threads, ms);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    config c;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "xgrad_bench_torch: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--cell") c.cell = next();
        else if (a == "--hidden") c.hidden = std::atoll(next().c_str());
        else if (a == "--steps") c.steps = std::atoll(next().c_str());
        else if (a == "--batch") c.batch = std::atoll(next().c_str());
        else if (a == "--dtype") c.dtype = next();
        else if (a == "--threads") c.threads = std::atoi(next().c_str());
        else if (a == "--iters") c.iters = std::atoi(next().c_str());
        else if (a == "--mode") c.mode = next();
        else if (a == "--json") c.json = true;
        else {
            std::fprintf(stderr, "xgrad_bench_torch: unknown option %s (see the comment at the top of torch_bench.cpp)\n",
                         a.c_str());
            return 2;
        }
    }
    torch::set_num_threads(c.threads);
    openblas_set_num_threads(c.threads);
    if (c.mode == "both" || c.mode == "fused") run(c, "fused");
    if (c.mode == "both" || c.mode == "unrolled") run(c, "unrolled");
    return 0;
}
