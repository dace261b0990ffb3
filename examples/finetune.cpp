// Fine-tuning: pre-train the tutorial's RNN on the sum task, save it, then learn a related task
// (y = Σ w_t x_t, w_t = 2(t+1)/T rising over time) three ways for the same number of steps:
// recurrent weights frozen, everything trainable, and from scratch. Usage: finetune [epochs] [pretrain_epochs]
#include <cstdlib>
#include <iostream>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

int main(int argc, char** argv) {
    const std::size_t epochs = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10;
    const std::size_t pre_epochs = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 20;
    const std::string path = "finetune_pretrained.npz";
    {
        nn::sequence_regressor pre({});
        nn::fit(pre, nn::sum_task(1000, 10, 0), {}, {.epochs = pre_epochs});
        std::cout << "pre-trained on the sum task: test MSE " << nn::evaluate(pre, nn::sum_task(100, 10, 1)) << "\n";
        nn::save_checkpoint(path, pre);
    }
    const auto train = nn::weighted_sum_task(1000, 10, 2), test = nn::weighted_sum_task(100, 10, 3);
    int status = 0;
    for (const char* how : {"frozen", "unfrozen", "scratch"}) {
        nn::sequence_regressor m({});
        const std::string mode = how;
        if (mode != "scratch") nn::load_checkpoint(path, m);
        if (mode == "frozen") m.freeze("rnn");
        const tensor w_hh = m.find("rnn.weight_hh_l0").value().to(dtype::float64);
        const double before = nn::evaluate(m, test);
        auto r = nn::fit(m, train, test, {.epochs = epochs, .seed = 7});
        bool unchanged = true;
        const tensor after = m.find("rnn.weight_hh_l0").value().to(dtype::float64);
        for (std::size_t i = 0; i < after.size(); ++i) unchanged &= after.flat(i) == w_hh.flat(i);
        std::cout << how << ": test MSE " << before << " -> " << r.history.back().test_loss << " after " << r.steps
                  << " steps; recurrent weights " << (unchanged ? "unchanged" : "changed") << "\n";
        if (mode == "frozen" && !unchanged) status = 1;          // freezing must keep them bit-identical
        if (!(r.history.back().test_loss < before)) status = 1;  // and every run must learn something
    }
    std::remove(path.c_str());
    return status;
}
