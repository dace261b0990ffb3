// `xgrad study`'s engine (cli/study_core.hpp): option checks, a tiny study, its CSVs.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

#include <xgrad/xgrad.hpp>

#include "study_core.hpp"
#include "study_explode.hpp"

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

// ---- study --explode (cli/study_explode.hpp) -----------------------------------------------------------

namespace {

std::string file_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

explode_options tiny_explode() {
    explode_options o;  // relu T = 40 at ρ = 1.5 diverges within 2 epochs of 2 SGD steps without clipping
    o.lengths = {40};
    o.seeds = {0};
    o.epochs = 2;
    o.samples = 64;
    o.hidden = 32;
    return o;
}

}  // namespace

TEST_CASE("study --explode: spectral_radius by power iteration, exact for a scaled orthogonal matrix") {
    rng gen(3);
    CHECK(spectral_radius(nn::orthogonal({12, 12}, gen, 1.3, dtype::float64)) == doctest::Approx(1.3).epsilon(1e-12));
    tensor d = tensor::zeros({3, 3}, dtype::float64);  // eigenvalues 0.5, -2, 1 and an off-diagonal term
    d.set_flat(0, 0.5);
    d.set_flat(4, -2.0);
    d.set_flat(8, 1.0);
    d.set_flat(1, 0.7);
    CHECK(spectral_radius(d) == doctest::Approx(2.0).epsilon(1e-9));
    CHECK_THROWS_WITH_AS(spectral_radius(tensor::zeros({2, 3})), doctest::Contains("square"), argument_error);
}

TEST_CASE("study --explode: options are checked and bad values named") {
    auto o = tiny_explode();
    o.clips = {"none", "sometimes"};
    CHECK_THROWS_WITH_AS(check_explode_options(o), doctest::Contains("sometimes"), argument_error);
    o = tiny_explode();
    o.recurrent_init = "eye";
    CHECK_THROWS_WITH_AS(check_explode_options(o), doctest::Contains("--recurrent-init"), argument_error);
    o = tiny_explode();
    o.radius = 0;
    CHECK_THROWS_WITH_AS(check_explode_options(o), doctest::Contains("--radius"), argument_error);
    o = tiny_explode();
    o.clip_norm = -1;
    CHECK_THROWS_WITH_AS(check_explode_options(o), doctest::Contains("--clip-norm"), argument_error);
    o = tiny_explode();
    o.optimizer = "adagrad";
    CHECK_THROWS_WITH_AS(check_explode_options(o), doctest::Contains("adagrad"), argument_error);
}

TEST_CASE("study --explode: unclipped relu diverges and stops, clipped twins stay finite, runs repeat byte for byte") {
    auto o = tiny_explode();
    o.activations = {"relu", "tanh"};
    const auto r = run_explode(o);
    REQUIRE(r.runs.size() == 6);
    const auto& none = r.runs[0];
    REQUIRE((none.activation == "relu" && none.clip == "none"));
    CHECK(none.radius == doctest::Approx(1.5).epsilon(1e-9));
    CHECK(none.diverged);
    REQUIRE(!none.trace.empty());
    CHECK(!std::isfinite(none.trace.back().grad_norm * none.trace.back().loss));  // stopped on the non-finite step
    CHECK(none.trace.size() <= 4);                                                // at most the 2 × 2 steps
    for (std::size_t i = 1; i < 3; ++i) {
        const auto& run = r.runs[i];
        CAPTURE(run.clip);
        CHECK(!run.diverged);
        CHECK(run.trace.size() == 4);
        CHECK(std::isfinite(run.test_loss));
        CHECK(std::isfinite(run.max_grad_norm));
        std::size_t clipped = 0;
        for (const auto& s : run.trace) {
            CHECK(std::isfinite(s.grad_norm));
            if (run.clip == "norm") CHECK(s.clipped == (s.grad_norm > o.clip_norm));
            clipped += s.clipped;
        }
        CHECK(run.clipped_fraction == double(clipped) / 4);
    }
    // tanh at ρ = 1.5: ‖∂L/∂h_t‖ at initialisation grows going back from t = T.
    const auto& tanh = r.runs[3];
    REQUIRE(tanh.grad_init.size() == 40);
    CHECK(tanh.grad_init.front() > 5 * tanh.grad_init.back());
    CHECK(explode_table(r).find("at step") != std::string::npos);

    const auto base = std::filesystem::temp_directory_path() / ("xgrad_test_explode_" + std::to_string(::getpid()));
    write_explode_csvs(r, base / "a");
    write_explode_csvs(run_explode(o), base / "b");
    for (const char* name : {"summary.csv", "steps.csv", "hgrad_init.csv"}) {
        CAPTURE(name);
        const auto a = file_bytes(base / "a" / name);
        CHECK(!a.empty());
        CHECK(a == file_bytes(base / "b" / name));
    }
    std::ifstream f(base / "a" / "summary.csv");
    std::string header, row;
    std::getline(f, header);
    std::getline(f, row);
    CHECK(header.rfind("model,T,clip,seed,radius,train_loss,test_loss,max_grad_norm,clipped_fraction,diverged", 0) == 0);
    CHECK(row.rfind("rnn/relu,40,none,0,", 0) == 0);
    CHECK(count_lines(base / "a" / "hgrad_init.csv") == 1 + 2 * 40);  // once per setting, not per clip
    std::filesystem::remove_all(base);
}
