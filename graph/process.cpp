#include "process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "errors.hpp"

extern char** environ;

namespace xgrad {

std::filesystem::path find_program(std::string_view name) {
    const char* path = std::getenv("PATH");
    if (!path || name.empty()) return {};
    std::stringstream in{std::string(path)};
    for (std::string dir; std::getline(in, dir, ':');) {
        if (dir.empty()) continue;
        const auto candidate = std::filesystem::path(dir) / name;
        std::error_code ec;
        if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

namespace {

// posix_spawn_file_actions_t with its destroy, so every exit path releases it.
struct spawn_actions {
    posix_spawn_file_actions_t a;
    spawn_actions() { posix_spawn_file_actions_init(&a); }
    ~spawn_actions() { posix_spawn_file_actions_destroy(&a); }
    spawn_actions(const spawn_actions&) = delete;
    spawn_actions& operator=(const spawn_actions&) = delete;
};

}  // namespace

int run_program(const std::filesystem::path& program, const std::vector<std::string>& args,
                const run_options& options) {
    spawn_actions actions;
    if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions.a, options.cwd.c_str());
    if (!options.output.empty()) {
        posix_spawn_file_actions_addopen(&actions.a, STDOUT_FILENO, options.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        posix_spawn_file_actions_adddup2(&actions.a, STDOUT_FILENO, STDERR_FILENO);
    }
    std::vector<std::string> strings{program.string()};
    strings.insert(strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, program.c_str(), &actions.a, nullptr, argv.data(), environ);
    if (rc != 0) throw error("xgrad::run_program: cannot run '" + program.string() + "': " + std::strerror(rc));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw error("xgrad::run_program: waiting for '" + program.string() + "' failed: " + std::strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string path_argument(const std::filesystem::path& p) {
    const std::string s = p.string();
    return !s.empty() && s[0] == '-' ? "./" + s : s;
}

}  // namespace xgrad
