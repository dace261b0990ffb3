// Saves onto what is not a plain file: a symbolic link is written through (the link stays a link), a
// FIFO or a directory is refused and left as it is, and temporaries of saves whose process died are
// removed by the next save of the same target. Everything happens in a fresh temporary directory.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;
namespace fs = std::filesystem;

namespace {

struct scratch_dir {
    fs::path path;
    scratch_dir() {
        static int n = 0;
        path = fs::temp_directory_path() / ("xgrad_safe_saves_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~scratch_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
    std::size_t count() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), {})); }
};

nn::named_tensors entries(std::uint64_t seed) { return {{"w", randn({3, 4}, seed, dtype::float64)}, {"b", randn({4}, seed + 1)}}; }

bool same(const nn::named_tensors& a, const nn::named_tensors& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const tensor &x = a[i].second, &y = b[i].second;
        if (a[i].first != b[i].first || x.dtype() != y.dtype() || x.shape() != y.shape()) return false;
        const std::size_t bytes = x.size() * (x.dtype() == dtype::float32 ? 4 : 8);
        if (!x.visit([&](const auto& p) { return y.visit([&](const auto& q) { return std::memcmp(p.data(), q.data(), bytes) == 0; }); }))
            return false;
    }
    return true;
}

void touch(const std::string& p) { std::ofstream(p) << "partial"; }
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
using xgrad::testing::message_of;

// A pid no process has: a child that has exited and been reaped (its pid is free until reused).
pid_t dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    REQUIRE(child > 0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return child;
}

// A pid no process can have: above the kernel's pid_max.
long impossible_pid() {
    long pid_max = 4194304;
    std::ifstream("/proc/sys/kernel/pid_max") >> pid_max;
    return pid_max + 1;
}

}  // namespace

TEST_CASE("a save through a symbolic link replaces the file it names and keeps the link") {
    scratch_dir dir;
    nn::save_npz(dir / "real.npz", entries(1));
    fs::create_symlink("real.npz", dir / "link.npz");   // relative
    fs::create_symlink(dir / "link.npz", dir / "chain.npz");  // absolute, to another link
    nn::save_npz(dir / "chain.npz", entries(2));
    CHECK(fs::is_symlink(dir / "link.npz"));
    CHECK(fs::is_symlink(dir / "chain.npz"));
    CHECK(fs::read_symlink(dir / "link.npz") == "real.npz");
    CHECK(fs::read_symlink(dir / "chain.npz") == dir / "link.npz");
    CHECK(fs::is_regular_file(fs::symlink_status(dir / "real.npz")));
    CHECK(same(nn::load_npz(dir / "real.npz"), entries(2)));  // the round trip, through the links and not
    CHECK(same(nn::load_npz(dir / "chain.npz"), entries(2)));
    CHECK(dir.count() == 3);  // no temporary file left

    // A link into another directory: the file there is replaced, nothing is left in either directory.
    fs::create_directory(dir / "sub");
    nn::save_npz(dir / "sub/model.npz", entries(3));
    fs::create_symlink("sub/model.npz", dir / "model.npz");
    nn::save_npz(dir / "model.npz", entries(4));
    CHECK(fs::is_symlink(dir / "model.npz"));
    CHECK(same(nn::load_npz(dir / "sub/model.npz"), entries(4)));
    CHECK(static_cast<std::size_t>(std::distance(fs::directory_iterator(dir.path / "sub"), {})) == 1);
    CHECK(dir.count() == 5);

    // A dangling link: the file it names is created, and the link now leads to it.
    fs::create_symlink("new.npz", dir / "dangling.npz");
    nn::save_npz(dir / "dangling.npz", entries(5));
    CHECK(fs::is_symlink(dir / "dangling.npz"));
    CHECK(fs::is_regular_file(fs::symlink_status(dir / "new.npz")));
    CHECK(same(nn::load_npz(dir / "new.npz"), entries(5)));
}

TEST_CASE("a save onto a FIFO or a directory is refused, names the path and leaves it as it was") {
    scratch_dir dir;
    REQUIRE(::mkfifo((dir / "pipe.npz").c_str(), 0600) == 0);
    const std::string msg = message_of<nn::checkpoint_io_error>([&] { nn::save_npz(dir / "pipe.npz", entries(1)); });
    CHECK(has(msg, dir / "pipe.npz"));
    CHECK(has(msg, "FIFO"));
    CHECK(has(msg, "not a regular file"));
    CHECK(fs::is_fifo(fs::symlink_status(dir / "pipe.npz")));

    // Through a link: refused, the link and the FIFO stay.
    fs::create_symlink("pipe.npz", dir / "to_pipe.npz");
    const std::string via = message_of<nn::checkpoint_io_error>([&] { nn::save_npz(dir / "to_pipe.npz", entries(1)); });
    CHECK(has(via, dir / "to_pipe.npz"));
    CHECK(has(via, "not a regular file"));
    CHECK(fs::is_symlink(dir / "to_pipe.npz"));
    CHECK(fs::is_fifo(fs::symlink_status(dir / "pipe.npz")));

    fs::create_directory(dir / "taken.npz");
    const std::string d = message_of<nn::checkpoint_io_error>([&] { nn::save_npz(dir / "taken.npz", entries(1)); });
    CHECK(has(d, dir / "taken.npz"));
    CHECK(has(d, "a directory, not a regular file"));
    CHECK(fs::is_directory(dir / "taken.npz"));
    CHECK(dir.count() == 3);  // no temporary file left
}
