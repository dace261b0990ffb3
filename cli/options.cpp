#include "options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>

namespace xgrad::cli {

namespace {
std::string short_number(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
}
std::string shown(const std::string& s) { return "'" + (s.size() > 40 ? s.substr(0, 37) + "..." : s) + "'"; }
}  // namespace

CLI::Validator whole_range(std::uint64_t lo, std::uint64_t hi) {
    const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
    return CLI::Validator(
        [lo, hi, range](std::string& s) -> std::string {
            const bool digits = !s.empty() && s.size() <= 19 && s.find_first_not_of("0123456789") == std::string::npos;
            if (!digits) return shown(s) + " is not a whole number in " + range;
            const std::uint64_t v = std::stoull(s);
            if (v < lo || v > hi) return s + " is outside the range " + range;
            return {};
        },
        "INT in " + range);
}

CLI::Validator real_range(double lo, double hi, bool low_open) {
    const std::string range = std::string(low_open ? "(" : "[") + short_number(lo) + ", " + short_number(hi) + "]";
    return CLI::Validator(
        [lo, hi, low_open, range](std::string& s) -> std::string {
            char* end = nullptr;
            errno = 0;
            const double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
            if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v))
                return shown(s) + " is not a finite number in " + range;
            if (v < lo || v > hi || (low_open && v == lo)) return short_number(v) + " is outside the range " + range;
            return {};
        },
        "X in " + range);
}

CLI::Validator regular_file() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            struct stat st {};
            if (::stat(s.c_str(), &st) != 0) return "'" + s + "': " + std::strerror(errno);
            if (S_ISREG(st.st_mode)) return {};
            const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                               : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                               : S_ISCHR(st.st_mode)  ? "a character device"
                               : S_ISBLK(st.st_mode)  ? "a block device"
                                                      : "a socket";
            return "'" + s + "' is " + kind + ", not a regular file; give a checkpoint file (.npz)";
        },
        "FILE");
}

}  // namespace xgrad::cli
