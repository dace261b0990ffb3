// render_dot / save_graph: write the DOT text and, when Graphviz is installed, run `dot` on it.
// `dot` is started with posix_spawn and an argv array (no shell), so no file name is ever parsed
// by a shell.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "dot.hpp"

extern char** environ;

namespace xgrad {

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

void write_text(const std::filesystem::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary);
    if (!f) throw error("xgrad::render_dot: cannot open '" + p.string() + "' for writing (does the folder exist?)");
    f << text;
    f.close();
    if (!f) throw error("xgrad::render_dot: writing '" + p.string() + "' failed (disk full?)");
}

}  // namespace

std::filesystem::path find_graphviz_dot() {
    const char* path = std::getenv("PATH");
    if (!path) return {};
    std::string all(path);
    std::size_t start = 0;
    while (start <= all.size()) {
        std::size_t end = all.find(':', start);
        if (end == std::string::npos) end = all.size();
        const std::string dir = all.substr(start, end - start);
        if (!dir.empty()) {
            std::filesystem::path candidate = std::filesystem::path(dir) / "dot";
            std::error_code ec;
            if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0)
                return candidate;
        }
        start = end + 1;
    }
    return {};
}

render_result render_dot(const std::string& dot_text, const std::filesystem::path& output) {
    render_result r;
    r.output = output;
    const std::string ext = lower(output.extension().string());
    if (ext == ".dot" || ext == ".gv") {
        write_text(output, dot_text);
        r.dot_file = output;
        r.message = "wrote " + output.string();
        return r;
    }
    if (ext != ".svg" && ext != ".png" && ext != ".pdf")
        throw argument_error("xgrad::render_dot: cannot tell the format of '" + output.string() +
                             "'; end the name in .svg, .png, .pdf or .dot");
    r.dot_file = std::filesystem::path(output).replace_extension(".dot");
    write_text(r.dot_file, dot_text);
    const auto dot = find_graphviz_dot();
    const std::string format = "-T" + ext.substr(1);
    if (dot.empty()) {
        r.message = "Graphviz's `dot` is not on PATH: wrote " + r.dot_file.string() + "; render it with: dot " +
                    format + " " + r.dot_file.string() + " -o " + output.string();
        return r;
    }
    std::vector<std::string> args{dot.string(), format, r.dot_file.string(), "-o", output.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, dot.c_str(), nullptr, nullptr, argv.data(), environ);
    if (rc != 0) throw error("xgrad::render_dot: cannot run '" + dot.string() + "': " + std::strerror(rc));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw error("xgrad::render_dot: waiting for Graphviz failed");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw error("xgrad::render_dot: Graphviz failed on " + r.dot_file.string() + " (exit status " +
                    std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + "); its message is above");
    r.rendered = true;
    r.message = "wrote " + output.string() + " (and " + r.dot_file.string() + ")";
    return r;
}

render_result save_graph(const tape& t, const std::filesystem::path& output, const dot_options& opt) {
    return render_dot(to_dot(t, opt), output);
}

}  // namespace xgrad
