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

TEST_CASE("a save removes the temporaries of earlier saves whose process is gone, and keeps a live one") {
    scratch_dir dir;
    const std::string dead = std::to_string(dead_pid()), none = std::to_string(impossible_pid());
    const std::string live = std::to_string(::getpid());
    const std::string stale[] = {"model.npz.xgrad-tmp-" + dead + "-0", "model.npz.xgrad-tmp-" + none + "-12",
                                 "model.npz.xgrad-tmp-" + dead + "-3.Ab9xYz",  // libzip's own, inside a save
                                 "model.npz.tmp-" + none + "-1"};               // the name of earlier versions
    const std::string kept[] = {"model.npz.xgrad-tmp-" + live + "-7",       // a save running now
                                "other.npz.xgrad-tmp-" + none + "-0",       // another target's
                                "model.npz.xgrad-tmp-" + none + "-x",       // not a name xgrad writes
                                "model.npz.xgrad-tmp-" + none + "-0.a-b",
                                "model.npz.backup"};
    for (const auto& n : stale) touch(dir / n);
    for (const auto& n : kept) touch(dir / n);
    nn::save_npz(dir / "model.npz", entries(1));
    for (const auto& n : stale) CHECK_MESSAGE(!fs::exists(dir / n), n);
    for (const auto& n : kept) CHECK_MESSAGE(fs::exists(dir / n), n);
    CHECK(same(nn::load_npz(dir / "model.npz"), entries(1)));
    CHECK(dir.count() == 1 + std::size(kept));

    // Through a link, the temporaries beside the file it names are the ones cleaned.
    fs::create_directory(dir / "sub");
    touch(dir / ("sub/real.npz.xgrad-tmp-" + none + "-0"));
    fs::create_symlink("sub/real.npz", dir / "link.npz");
    nn::save_npz(dir / "link.npz", entries(2));
    CHECK(!fs::exists(dir / ("sub/real.npz.xgrad-tmp-" + none + "-0")));
    CHECK(same(nn::load_npz(dir / "sub/real.npz"), entries(2)));

    // A real crash: a child killed (SIGXFSZ, a file-size limit) in the middle of writing leaves its temporary;
    // the next save removes it.
    const nn::named_tensors big = {{"big", randn({4, 200000}, 3)}};
    const pid_t child = ::fork();
    if (child == 0) {
        rlimit no_core{0, 0}, small{64 * 1024, 64 * 1024};
        ::setrlimit(RLIMIT_CORE, &no_core);
        std::signal(SIGXFSZ, SIG_DFL);
        ::setrlimit(RLIMIT_FSIZE, &small);
        try {
            nn::save_npz(dir / "crash.npz", big);
        } catch (...) {
        }
        ::_exit(0);
    }
    REQUIRE(child > 0);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGXFSZ);
    std::size_t leftovers = 0;
    for (const auto& e : fs::directory_iterator(dir.path))
        leftovers += e.path().filename().string().rfind("crash.npz.xgrad-tmp-" + std::to_string(child) + "-", 0) == 0;
    CHECK(leftovers == 1);
    nn::save_npz(dir / "crash.npz", entries(3));
    for (const auto& e : fs::directory_iterator(dir.path))
        CHECK_MESSAGE(e.path().filename().string().rfind("crash.npz.", 0) != 0, e.path().string());
    CHECK(same(nn::load_npz(dir / "crash.npz"), entries(3)));
}
