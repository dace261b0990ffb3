#pragma once
// Numeric command-line options with a range: every number an xgrad subcommand reads goes through
// one of these, so that NaN, infinities, signs on counts, 1e30 and 20-digit values are refused with
// a message naming the option and its range (CLI11 prints it and exits with its usage error, 105).
//   whole(sub, "--epochs", c.epochs, "Epochs", 0, 1000000);
//   real(sub, "--lr", c.lr, "Learning rate", 0, 1e3, /*low_open=*/true);
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

namespace xgrad::cli {

// A whole number lo..hi written as decimal digits only (no sign, no exponent, at most 19 digits).
CLI::Validator whole_range(std::uint64_t lo, std::uint64_t hi);
// A finite real number in [lo, hi] ((lo, hi] when low_open).
CLI::Validator real_range(double lo, double hi, bool low_open = false);

// An existing regular file (a FIFO, a device or a directory is named as such).
CLI::Validator regular_file();

inline constexpr std::uint64_t max_seed = 9223372036854775807ull;  // 2^63 - 1

template <class T>
CLI::Option* whole(CLI::App& app, const std::string& name, T& target, const std::string& help, std::uint64_t lo,
                   std::uint64_t hi) {
    return app.add_option(name, target, help)->check(whole_range(lo, hi))->capture_default_str();
}
inline CLI::Option* real(CLI::App& app, const std::string& name, double& target, const std::string& help, double lo,
                         double hi, bool low_open = false) {
    return app.add_option(name, target, help)->check(real_range(lo, hi, low_open))->capture_default_str();
}
inline CLI::Option* seed(CLI::App& app, std::uint64_t& target, const std::string& help) {
    return whole(app, "--seed", target, help, 0, max_seed);
}

}  // namespace xgrad::cli
