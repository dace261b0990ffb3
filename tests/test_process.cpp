// graph/process: find_program and run_program, which render_dot (Graphviz) and `xgrad study` (gnuplot) use.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <xgrad/xgrad.hpp>

using namespace xgrad;

TEST_CASE("process: find_program searches PATH for an executable file") {
    const auto sh = find_program("sh");
    REQUIRE(!sh.empty());
    CHECK(sh.filename() == "sh");
    CHECK(sh.is_absolute());
    CHECK(find_program("xgrad_no_such_program_anywhere").empty());
    CHECK(find_program("").empty());
}

TEST_CASE("process: run_program returns the exit status, runs in cwd and sends both streams to the output file") {
    const auto sh = find_program("sh");
    REQUIRE(!sh.empty());
    CHECK(run_program(sh, {"-c", "exit 0"}) == 0);
    CHECK(run_program(sh, {"-c", "exit 3"}) == 3);
    CHECK(run_program(sh, {"-c", "kill -9 $$"}) == -1);  // ended by a signal
    // arguments reach the program as they are: no shell parses them
    const auto dir = std::filesystem::temp_directory_path() / ("xgrad_test_process_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    CHECK(run_program(sh, {"-c", "pwd; echo \"$1\" >&2", "sh", "a b; $HOME *"}, {.cwd = dir, .output = "log.txt"}) == 0);
    std::ifstream f(dir / "log.txt");
    std::string line1, line2;
    std::getline(f, line1);
    std::getline(f, line2);
    CHECK(std::filesystem::equivalent(line1, dir));
    CHECK(line2 == "a b; $HOME *");
    std::filesystem::remove_all(dir);
    CHECK_THROWS_WITH_AS(run_program("/xgrad/no/such/program", {}), doctest::Contains("cannot run '/xgrad/no/such/program'"),
                         error);
}
