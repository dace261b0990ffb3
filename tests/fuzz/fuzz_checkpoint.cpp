// libFuzzer target: the bytes are an .npz file, given to every reader a user reaches: npz_reader and
// read_npz, load_checkpoint into a small model with an Adam optimizer (strict and not), and
// load_char_model. Any outcome but success or a checkpoint_error is a finding (an escaping exception
// aborts; ASan/UBSan report the rest; -rss_limit_mb bounds memory).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

namespace {

const std::string& scratch_path() {
    static const std::string p = "/dev/shm/xgrad-fuzz-" + std::to_string(::getpid()) + ".npz";
    return p;
}

// What the headers declare in all: read_npz inflates that much (a real archive may hold a large
// array; the model-bound loaders never inflate more than their model).
std::uint64_t declared_bytes(const nn::npz_reader& r) {
    std::uint64_t n = 0;
    for (auto& m : r.members()) n += m.data_bytes;
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    {
        std::ofstream f(scratch_path(), std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    const std::string& path = scratch_path();
    try {
        const nn::npz_reader r(path);
        if (declared_bytes(r) <= (std::uint64_t{64} << 20)) nn::read_npz(path);
    } catch (const nn::checkpoint_error&) {
    }
    nn::linear model(3, 2, true, nn::init_style::keras, 1);
    nn::adam opt(model);
    for (const bool strict : {true, false}) {
        try {
            nn::load_checkpoint(path, model, &opt, {.strict = strict});
        } catch (const nn::checkpoint_error&) {
        }
    }
    try {
        nn::load_char_model(path);
    } catch (const nn::checkpoint_error&) {
    }
    return 0;
}
