#pragma once
// Finding and running an external program (Graphviz's `dot`, gnuplot). The program is started with
// posix_spawn and an argv array, never through a shell, so no argument (a file name) is ever parsed
// by a shell.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace xgrad {

// The full path of the executable file `name` in the first folder of PATH that has one, or empty.
std::filesystem::path find_program(std::string_view name);

struct run_options {
    std::filesystem::path cwd;     // the program's working folder (empty: this process's)
    std::filesystem::path output;  // its stdout and stderr go to this file, relative to cwd (empty: ours)
};

// A file name as a program argument that no program reads as an option: a relative name starting
// with '-' gets "./" in front ("-x.svg" -> "./-x.svg"); every other name is returned as it is.
std::string path_argument(const std::filesystem::path& p);

// Runs `program` with the arguments `args` (argv[1], ...) and waits for it to end. Returns its exit
// status, or -1 when a signal ended it. Throws error when it cannot be started or waited for.
int run_program(const std::filesystem::path& program, const std::vector<std::string>& args,
                const run_options& options = {});

}  // namespace xgrad
