#include "output.hpp"

#include <cmath>
#include <sstream>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include <xgrad/xgrad.hpp>

namespace xgrad::cli {

void write_text_file(const std::string& path, const std::string& text, const std::string& what) {
    nn::write_text_file(path, text, what);  // the checkpoints' atomic writer (nn/npz_write.cpp)
}

void check_stdout() {
    errno = 0;
    std::cout.flush();
    const bool failed = !std::cout || std::fflush(stdout) != 0 || std::ferror(stdout);
    if (failed)
        throw error(std::string("writing to standard output failed") + (errno ? std::string(": ") + std::strerror(errno) : "") +
                    " (a full disk or a closed pipe?)");
}

std::string progress_bar(std::size_t step, std::size_t steps) {
    const std::size_t width = 30, done = steps ? step * width / steps : width;
    std::string s = "[";
    for (std::size_t i = 0; i < width; ++i) s += i < done ? (i + 1 == done && step < steps ? '>' : '=') : '.';
    return s + "]";
}

std::string keras_timing(double seconds, std::size_t steps) {
    std::ostringstream o;
    const double per = seconds / double(steps ? steps : 1);
    o << std::lround(std::floor(seconds)) << "s ";
    if (per < 1e-3)
        o << std::lround(1e6 * per) << "us/step";
    else
        o << std::lround(1e3 * per) << "ms/step";
    return o.str();
}

}  // namespace xgrad::cli
