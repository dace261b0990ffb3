#include "output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <sstream>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <xgrad/xgrad.hpp>

namespace xgrad::cli {

namespace {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string dir_of(const std::string& p) {
    const auto slash = p.rfind('/');
    return slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
}

// The file to replace: `path`, or for a symbolic link the file it finally names (realpath of an
// existing file; a dangling link is replaced as a name). Throws for a target that is not a regular file.
std::string resolve(const std::string& path, const std::string& what) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return path;  // absent: a new file (or a dangling link)
    if (!S_ISREG(st.st_mode)) {
        const char* kind = S_ISDIR(st.st_mode)   ? "a directory"
                           : S_ISCHR(st.st_mode) ? "a character device"
                           : S_ISBLK(st.st_mode) ? "a block device"
                           : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                                                  : "not a regular file";
        throw error(what + ": " + quoted(path) + " is " + kind +
                    "; output goes to a regular file: choose another path; nothing was written");
    }
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
}

[[noreturn]] void fail(const std::string& what, const std::string& path, const std::string& step, int err) {
    throw error(what + ": cannot write " + quoted(path) + ": " + step + ": " + std::strerror(err) +
                "; the previous file (if any) is unchanged");
}

}  // namespace

void write_text_file(const std::string& path, const std::string& text, const std::string& what) {
    static std::atomic<unsigned> counter{0};
    const std::string target = resolve(path, what);
    const std::string tmp = target + ".xgrad-tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) fail(what, path, "cannot create the temporary file " + quoted(tmp) + " (does the folder exist?)", errno);
    const auto abandon = [&](const std::string& step, int err) {
        ::close(fd);
        ::unlink(tmp.c_str());
        fail(what, path, step, err);
    };
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) abandon("writing " + quoted(tmp), n < 0 ? errno : ENOSPC);
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) abandon("flushing " + quoted(tmp) + " to disk", errno);
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        fail(what, path, "closing " + quoted(tmp), err);
    }
    if (std::rename(tmp.c_str(), target.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        fail(what, path, "renaming " + quoted(tmp) + " over it", err);
    }
    const int dfd = ::open(dir_of(target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // best effort: the rename itself reaches the disk
        ::fsync(dfd);
        ::close(dfd);
    }
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
