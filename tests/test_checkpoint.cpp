// Checkpoints: bit-exact round trips, numpy interchange, atomic saves, every kind of corrupt or
// mismatched file, non-strict loads, fine-tuning with frozen parameters, resuming an optimizer.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;
namespace fs = std::filesystem;

namespace {

struct leaf : nn::module {
    parameter weight, bias;
    leaf(std::size_t in, std::size_t out, dtype d, std::uint64_t seed) : module("leaf") {
        weight = register_parameter("weight", randn({out, in}, seed, d));
        bias = register_parameter("bias", randn({out}, seed + 1, d));
    }
    var operator()(const var& x) const { return linear(x, weight, bias); }
};

// body: 3 -> 4 (tanh), head: 4 -> out.
struct net : nn::module {
    leaf body, head;
    explicit net(std::size_t out = 2, dtype d = dtype::float32, std::uint64_t seed = 1)
        : module("net"), body(3, 4, d, seed), head(4, out, d, seed + 10) {
        register_module("body", body);
        register_module("head", head);
    }
    var operator()(const var& x) const { return head(tanh(body(x))); }
};

// A fresh directory per test, in memory (/dev/shm) when possible: the corrupt-file loops write ~3000 files.
struct temp_dir {
    fs::path path;
    temp_dir() {
        static int n = 0;
        path = fs::path(fs::exists("/dev/shm") ? "/dev/shm" : fs::temp_directory_path()) / ("xgrad_ckpt_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() { fs::remove_all(path); }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
    std::size_t count() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), {})); }
};

bool same_bits(const tensor& a, const tensor& b) {
    if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
    const std::size_t bytes = a.size() * (a.dtype() == dtype::float32 ? 4 : 8);
    return a.visit([&](const auto& x) { return b.visit([&](const auto& y) { return std::memcmp(x.data(), y.data(), bytes) == 0; }); });
}

bool same_params(const nn::module& a, const nn::module& b) {
    auto pa = a.named_parameters(), pb = b.named_parameters();
    if (pa.size() != pb.size()) return false;
    for (std::size_t i = 0; i < pa.size(); ++i)
        if (pa[i].first != pb[i].first || !same_bits(pa[i].second.value(), pb[i].second.value())) return false;
    return true;
}

void train(net& m, nn::optimizer& opt, int steps, std::uint64_t seed = 5) {
    const tensor x = randn({8, 3}, seed, m.body.weight.dtype());
    const tensor y = randn({8, m.head.bias.size()}, seed + 1, m.body.weight.dtype());
    for (int k = 0; k < steps; ++k) {
        tape t;
        opt.zero_grad();
        t.backward(mse(m(input(x)), input(y)));
        opt.step();
    }
}

std::string read_bytes(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}
void write_bytes(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

using xgrad::testing::message_of;
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const std::string data_dir = XGRAD_TEST_DATA;

}  // namespace

TEST_CASE("checkpoint round trip is bit-exact in float32 and float64, special values included") {
    temp_dir dir;
    for (const dtype d : {dtype::float32, dtype::float64}) {
        net a(2, d, 1), b(2, d, 99);
        a.body.weight.value().set_flat(0, -0.0);
        a.body.weight.value().set_flat(1, d == dtype::float32 ? 1e-40 : 1e-310);  // subnormal
        a.body.weight.value().set_flat(2, 1.0 / 3.0);
        a.head.bias.value().set_flat(0, NAN);
        nn::save_checkpoint(dir / "a.npz", a);
        CHECK(!same_params(a, b));
        const auto r = nn::load_checkpoint(dir / "a.npz", b, nullptr, {.allow_nonfinite = true});  // the NaN
        CHECK(r.complete());
        CHECK(r.loaded.size() == 4);
        CHECK(same_params(a, b));
        CHECK(std::signbit(b.body.weight.value().flat(0)));
    }
    // The same model gives the same bytes (fixed timestamps), compressed or not.
    net m;
    nn::save_checkpoint(dir / "x.npz", m);
    nn::save_checkpoint(dir / "y.npz", m);
    CHECK(read_bytes(dir / "x.npz") == read_bytes(dir / "y.npz"));
    nn::save_checkpoint(dir / "z.npz", m, nullptr, {.compress = true});
    net n(2, dtype::float32, 7);
    nn::load_checkpoint(dir / "z.npz", n);
    CHECK(same_params(m, n));
    CHECK(dir.count() == 4);  // no temporary files left
    // No arrays at all: a valid, empty archive (libzip would not write one; xgrad writes the end record).
    nn::save_npz(dir / "empty.npz", {});
    CHECK(nn::read_npz(dir / "empty.npz").empty());
    CHECK(read_bytes(dir / "empty.npz").size() == 22);
}

TEST_CASE("reads numpy.savez_compressed and numpy.savez files (committed fixtures)") {
    const auto arrays = nn::read_npz(data_dir + "/numpy_compressed.npz");
    REQUIRE(arrays.size() == 5);
    CHECK(arrays[0].name == "layer.weight");
    CHECK(arrays[0].value.dtype() == dtype::float32);
    CHECK(arrays[0].value.shape() == shape_t{2, 3});
    CHECK(arrays[0].value.flat(1) == -1.25);
    CHECK(arrays[0].value.flat(5) == 8.0);
    // Fortran order comes back in C order: arange(6).reshape(2, 3) / 4.
    CHECK(arrays[1].value.dtype() == dtype::float64);
    for (std::size_t i = 0; i < 6; ++i) CHECK(arrays[1].value.flat(i) == static_cast<double>(i) / 4);
    CHECK(arrays[2].value.dim() == 0);
    CHECK(arrays[2].value.item() == -2.5);
    CHECK(arrays[3].descr == ">f8");  // big-endian, swapped on read
    CHECK(arrays[3].value.flat(0) == 1.5);
    CHECK(arrays[3].value.flat(1) == -3.0);
    CHECK(arrays[4].descr == "<i8");
    CHECK(!arrays[4].value.defined());
    CHECK(has(message_of<nn::checkpoint_error>([] { nn::load_npz(data_dir + "/numpy_compressed.npz"); }), "idx (int64)"));
    const auto stored = nn::load_npz(data_dir + "/numpy_stored.npz");
    REQUIRE(stored.size() == 2);
    CHECK(stored[0].second.flat(0) == 0.5);
    CHECK(stored[1].second.item() == -2.5);
}

TEST_CASE("numpy reads what xgrad writes (skipped without python3-numpy)") {
    if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        MESSAGE("python3-numpy is not installed: cross-check skipped");
        return;
    }
    temp_dir dir;
    net m(2, dtype::float64);
    nn::adam opt(m);
    train(m, opt, 1);
    nn::save_checkpoint(dir / "m.npz", m, &opt, {.compress = true});
    const std::string script = "import numpy as np, sys\n"
                               "f = np.load(sys.argv[1])\n"
                               "assert sorted(f.files)[:2] == ['body.bias', 'body.weight'], f.files\n"
                               "assert f['optim/adam.step'] == 1 and f['optim/adam.m.head.bias'].dtype == np.float64\n"
                               "np.savez(sys.argv[2], **{k: f[k] * 2 for k in f.files})\n";
    write_bytes(dir / "check.py", script);
    REQUIRE(std::system(("/usr/bin/python3 " + (dir / "check.py") + " " + (dir / "m.npz") + " " + (dir / "n.npz")).c_str()) == 0);
    const auto back = nn::load_npz(dir / "n.npz");
    REQUIRE(back.size() == m.named_parameters().size() + opt.state().size());
    CHECK(back[0].first == "body.weight");
    CHECK(back[0].second.flat(3) == 2 * m.body.weight.value().flat(3));
}

TEST_CASE("a save that fails midway leaves the previous checkpoint loadable and no temporary file") {
    temp_dir dir;
    const std::string path = dir / "model.npz";
    net good(2, dtype::float32, 1);
    nn::save_checkpoint(path, good);
    const std::string before = read_bytes(path);

    // A larger model whose file exceeds a file-size limit: write() fails with EFBIG mid-archive.
    net big(2, dtype::float32, 2);
    big.body.weight.value() = randn({4, 200000}, 3);
    rlimit old{};
    getrlimit(RLIMIT_FSIZE, &old);
    auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = 64 * 1024;
    setrlimit(RLIMIT_FSIZE, &small);
    std::string msg;
    try {
        nn::save_checkpoint(path, big);
    } catch (const nn::checkpoint_io_error& e) {
        msg = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    CHECK(has(msg, "model.npz"));
    CHECK(has(msg, "unchanged"));
    CHECK(has(msg, "Write error"));  // libzip failed mid-archive, not before
    CHECK(read_bytes(path) == before);
    CHECK(dir.count() == 1);
    net back(2, dtype::float32, 3);
    nn::load_checkpoint(path, back);
    CHECK(same_params(good, back));

    // Other failures of the file system: a missing directory, a directory in the way.
    CHECK(has(message_of<nn::checkpoint_io_error>([&] { nn::save_checkpoint(dir / "no/such/dir.npz", good); }), "no/such/dir.npz"));
    fs::create_directory(dir / "taken");
    CHECK_THROWS_AS(nn::save_checkpoint(dir / "taken", good), nn::checkpoint_io_error);
    CHECK(dir.count() == 2);
    CHECK_THROWS_AS(nn::load_checkpoint(dir / "absent.npz", back), nn::checkpoint_io_error);
}

TEST_CASE("corrupt files: truncated at every length, random bytes, flipped bytes, foreign zips") {
    temp_dir dir;
    net m;
    nn::save_checkpoint(dir / "good.npz", m);
    const std::string good = read_bytes(dir / "good.npz");
    const std::string bad = dir / "bad.npz";
    net into(2, dtype::float32, 5);
    for (std::size_t len = 0; len < good.size(); ++len) {
        write_bytes(bad, good.substr(0, len));
        CHECK_THROWS_AS(nn::load_checkpoint(bad, into), nn::checkpoint_corrupt_error);
    }
    write_bytes(bad, good.substr(0, good.size() / 2));
    CHECK(has(message_of<nn::checkpoint_corrupt_error>([&] { nn::load_checkpoint(bad, into); }), "bad.npz"));
    rng gen(7);
    std::string noise(good.size(), '\0');
    for (auto& c : noise) c = static_cast<char>(gen.index(256));
    write_bytes(bad, noise);
    CHECK(has(message_of<nn::checkpoint_corrupt_error>([&] { nn::load_checkpoint(bad, into); }), "ZIP archive"));
    // Any flipped byte: loads, or throws a checkpoint_error; never anything else.
    std::size_t errors = 0;
    for (std::size_t i = 0; i < good.size(); ++i) {
        std::string s = good;
        s[i] = static_cast<char>(s[i] ^ 0x5a);
        write_bytes(bad, s);
        try {
            nn::load_checkpoint(bad, into);
        } catch (const nn::checkpoint_error&) {
            ++errors;
        }
    }
    CHECK(errors > good.size() / 2);
    CHECK(has(message_of<nn::checkpoint_corrupt_error>([&] { nn::load_checkpoint(data_dir + "/not_npz.zip", into); }),
              "'readme.txt' is not a .npy array"));
    CHECK(has(message_of<nn::checkpoint_corrupt_error>([&] { nn::load_checkpoint(data_dir + "/short_member.npz", into); }),
              "needs 400 data bytes, the member has 40 (truncated)"));
}

TEST_CASE("a strict load names every missing, unexpected, wrong-shape and wrong-dtype entry, and changes nothing") {
    temp_dir dir;
    net m(2, dtype::float32, 1);
    net orig(2, dtype::float32, 1);
    nn::save_npz(dir / "odd.npz", {{"body.weight", randn({3, 4}, 1)},                     // transposed
                                   {"body.bias", randn({4}, 2, dtype::float64)},          // float64
                                   {"head.weight", randn({2, 4}, 3)},                     // fits
                                   {"extra.weight", randn({1}, 4)}});                     // unexpected
    try {
        nn::load_checkpoint(dir / "odd.npz", m);
        FAIL("expected checkpoint_mismatch_error");
    } catch (const nn::checkpoint_mismatch_error& e) {
        const std::string msg = e.what();
        CHECK(has(msg, "missing (1): head.bias"));
        CHECK(has(msg, "unexpected (1): extra.weight"));
        CHECK(has(msg, "wrong shape (1): body.weight: file [3, 4], model [4, 3]"));
        CHECK(has(msg, "wrong dtype (1): body.bias: file float64, model float32"));
        CHECK(e.report.missing == std::vector<std::string>{"head.bias"});
        CHECK(e.report.unexpected == std::vector<std::string>{"extra.weight"});
    }
    CHECK(same_params(m, orig));  // nothing was assigned
    // A numpy file into a model: an int64 array under a parameter's name is a dtype mismatch.
    struct numpy_model : nn::module {
        numpy_model() : module("numpy_model") {
            register_parameter("layer.weight", tensor::zeros({2, 3}, dtype::float32));
            register_parameter("layer.bias", tensor::zeros({2, 3}, dtype::float64));
            register_parameter("scale", tensor::scalar(0, dtype::float64));
            register_parameter("big", tensor::zeros({2}, dtype::float64));
            register_parameter("idx", tensor::zeros({3}, dtype::float32));
        }
    } nm;
    const std::string file = data_dir + "/numpy_compressed.npz";
    const std::string msg = message_of<nn::checkpoint_mismatch_error>([&] { nn::load_checkpoint(file, nm); });
    CHECK(has(msg, "wrong dtype (1): idx: file int64, model float32"));
    CHECK(!has(msg, "missing"));
    const auto r = nn::load_checkpoint(file, nm, nullptr, {.strict = false});
    CHECK(r.loaded.size() == 4);
    CHECK(nm.find("scale").value().item() == -2.5);
    CHECK(nm.find("layer.bias").value().flat(5) == 1.25);
}

TEST_CASE("non-strict load fills what fits (a new head) and reports the rest") {
    temp_dir dir;
    net pre(2, dtype::float32, 1);
    nn::save_checkpoint(dir / "pre.npz", pre);
    net fine(3, dtype::float32, 2);  // a head with 3 outputs
    const auto head_before = fine.head.weight.value();
    const auto r = nn::load_checkpoint(dir / "pre.npz", fine, nullptr, {.strict = false});
    CHECK(r.loaded == std::vector<std::string>{"body.weight", "body.bias"});
    CHECK(r.wrong_shape.size() == 2);
    CHECK(!r.complete());
    CHECK(same_bits(fine.body.weight.value(), pre.body.weight.value()));
    CHECK(same_bits(fine.head.weight.value(), head_before));
}

TEST_CASE("fine-tuning: load, freeze the body, train, and frozen parameters do not change") {
    temp_dir dir;
    net pre(2, dtype::float32, 1);
    nn::adam pre_opt(pre);
    train(pre, pre_opt, 3);
    nn::save_checkpoint(dir / "pre.npz", pre);
    net fine(2, dtype::float32, 9);
    nn::load_checkpoint(dir / "pre.npz", fine);
    fine.freeze("body");
    const tensor w = fine.body.weight.value(), b = fine.body.bias.value(), h = fine.head.weight.value();
    nn::adam opt(fine, {.lr = 0.01, .weight_decay = 0.1});
    train(fine, opt, 5, 21);
    CHECK(same_bits(fine.body.weight.value(), w));
    CHECK(same_bits(fine.body.bias.value(), b));
    CHECK(max_abs_diff(fine.head.weight.value(), h) > 1e-4);
    for (auto& [n, t] : opt.state()) CHECK(n.find("body") == std::string::npos);  // no state for frozen ones
}

TEST_CASE("training resumed from a checkpoint equals uninterrupted training bit for bit") {
    temp_dir dir;
    const auto check = [&](auto make_opt) {
        net a(2, dtype::float32, 1);
        auto oa = make_opt(a);
        train(a, *oa, 3);
        nn::save_checkpoint(dir / "mid.npz", a, oa.get());
        train(a, *oa, 4, 6);
        net b(2, dtype::float32, 50);
        auto ob = make_opt(b);
        const auto r = nn::load_checkpoint(dir / "mid.npz", b, ob.get());
        CHECK(r.complete());
        CHECK(ob->steps() == 3);
        train(b, *ob, 4, 6);
        CHECK(same_params(a, b));
        const auto sa = oa->state(), sb = ob->state();
        REQUIRE(sa.size() == sb.size());
        for (std::size_t i = 0; i < sa.size(); ++i) CHECK(same_bits(sa[i].second, sb[i].second));
    };
    check([](net& m) { return std::make_unique<nn::sgd>(m, nn::sgd_options{.lr = 0.1, .momentum = 0.9, .nesterov = true}); });
    check([](net& m) { return std::make_unique<nn::adam>(m, nn::adam_options{.lr = 0.01}); });
    check([](net& m) { return std::make_unique<nn::adamw>(m, nn::adamw_options::keras()); });
    check([](net& m) { return std::make_unique<nn::rmsprop>(m, nn::rmsprop_options{.momentum = 0.5, .centered = true}); });
}

TEST_CASE("optimizer state: other optimizer, none saved, none asked for") {
    temp_dir dir;
    net m;
    nn::sgd s(m, {.lr = 0.1, .momentum = 0.9});
    train(m, s, 2);
    nn::save_checkpoint(dir / "sgd.npz", m, &s);
    nn::adam a(m);
    const std::string msg = message_of<nn::checkpoint_mismatch_error>([&] { nn::load_checkpoint(dir / "sgd.npz", m, &a); });
    CHECK(has(msg, "missing (1): optim/adam.step"));
    CHECK(has(msg, "optim/sgd.momentum.body.weight"));
    const auto r = nn::load_checkpoint(dir / "sgd.npz", m);  // no optimizer: its state is ignored
    CHECK(r.complete());
    CHECK(r.ignored.size() == 1 + 4 * 2);  // step, and count + momentum per parameter
    nn::save_checkpoint(dir / "plain.npz", m);
    CHECK(has(message_of<nn::checkpoint_mismatch_error>([&] { nn::load_checkpoint(dir / "plain.npz", m, &s); }),
              "the file holds no optimizer state"));
    nn::sgd s2(m, {.lr = 0.1, .momentum = 0.9});
    CHECK(nn::load_checkpoint(dir / "sgd.npz", m, &s2).complete());
    CHECK(s2.steps() == 2);
}
