// `xgrad study`'s engine (cli/study_core.hpp): option checks, a tiny study, its CSVs.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <xgrad/xgrad.hpp>

#include "study_core.hpp"

using namespace xgrad;
using namespace xgrad::cli;

namespace {

std::size_t count_lines(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::size_t n = 0;
    for (std::string line; std::getline(f, line);) ++n;
    return n;
}

}  // namespace

TEST_CASE("study: --seeds is a count, a list or a range, and bad values are named") {
    CHECK(parse_seeds("3") == std::vector<std::uint64_t>{0, 1, 2});
    CHECK(parse_seeds("4,7") == std::vector<std::uint64_t>{4, 7});
    CHECK(parse_seeds("5..7") == std::vector<std::uint64_t>{5, 6, 7});
    CHECK_THROWS_AS(parse_seeds(""), argument_error);
    CHECK_THROWS_AS(parse_seeds("0"), argument_error);
    CHECK_THROWS_AS(parse_seeds("1,x"), argument_error);
    CHECK_THROWS_AS(parse_seeds("7..5"), argument_error);
    study_options o;
    o.activations = {"tanh", "softplux"};
    CHECK_THROWS_WITH_AS(check_study_options(o), doctest::Contains("softplux"), argument_error);
    o.activations = {"tanh"};
    o.cells = {"rnn"};
    CHECK_THROWS_AS(check_study_options(o), argument_error);
    o.cells = {};
    o.lengths = {};
    CHECK_THROWS_AS(check_study_options(o), argument_error);
}

TEST_CASE("study: a tiny study trains, lowers the tanh loss, measures T gradient norms and writes the CSVs") {
    study_options o;
    o.activations = {"tanh", "sigmoid"};
    o.lengths = {5};
    o.seeds = {0, 1};
    o.epochs = 4;
    o.samples = 64;
    o.hidden = 8;
    o.lr = 0.01;
    const auto r = run_study(o);
    REQUIRE(r.runs.size() == 4);
    for (const auto& run : r.runs) {
        CAPTURE(study_label(run));
        REQUIRE(run.test_curve.size() == 4);
        REQUIRE(run.grad_init.size() == 5);
        REQUIRE(run.grad_trained.size() == 5);
        for (double g : run.grad_init) CHECK((std::isfinite(g) && g > 0));
        CHECK(std::isfinite(run.train_loss));
        if (run.activation == "tanh") CHECK(run.test_curve.back() < run.test_curve.front());
    }
    const auto table = summary_table(r);
    CHECK(table.find("rnn/tanh") != std::string::npos);
    CHECK(table.find("rnn/sigmoid") != std::string::npos);

    const auto dir = std::filesystem::temp_directory_path() / ("xgrad_test_study_" + std::to_string(::getpid()));
    write_study_csvs(r, dir);
    CHECK(count_lines(dir / "summary.csv") == 1 + 4);
    CHECK(count_lines(dir / "gradnorms.csv") == 1 + 2 * 2 * 5);  // 2 models × (init, trained) × T
    CHECK(count_lines(dir / "curves.csv") == 1 + 4 * 4);
    std::ifstream f(dir / "summary.csv");
    std::string header, row;
    std::getline(f, header);
    std::getline(f, row);
    CHECK(header.rfind("activation,cell,T,seed,train_loss,test_loss,epochs_to_target", 0) == 0);
    CHECK(row.rfind("tanh,rnn,5,0,", 0) == 0);
    std::filesystem::remove_all(dir);
}
