// hostile_poke IN OUT ARRAY VALUE: copies the .npz IN to OUT with element 0 of ARRAY set to VALUE
// ("nan", "inf", or a number), every other array unchanged. The hostile ctests make a checkpoint
// whose weights are not finite with it (a diverged run refuses to save one).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <xgrad/xgrad.hpp>

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: hostile_poke IN OUT ARRAY VALUE\n");
        return 2;
    }
    try {
        xgrad::nn::named_tensors all = xgrad::nn::load_npz(argv[1]);
        bool found = false;
        for (auto& [name, t] : all)
            if (name == argv[3] && t.size() > 0) {
                t.set_flat(0, std::strtod(argv[4], nullptr));
                found = true;
            }
        if (!found) {
            std::fprintf(stderr, "hostile_poke: '%s' has no non-empty array '%s'\n", argv[1], argv[3]);
            return 1;
        }
        xgrad::nn::save_npz(argv[2], all);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hostile_poke: %s\n", e.what());
        return 1;
    }
    return 0;
}
