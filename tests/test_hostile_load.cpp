// Hostile checkpoints on the loading side (issue 14): decompression bombs, metadata that does not fit
// the arrays, NaN/Inf weights, duplicate members, and the fuzzer's regression inputs. Each is refused
// with a message naming the file and the array, fast and with bounded memory.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "helpers.hpp"

using namespace xgrad;
using xgrad::testing::contains;
using xgrad::testing::message_of;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        path = fs::temp_directory_path() / ("xgrad_hostile_load_" + std::to_string(::getpid()));
        fs::create_directories(path);
    }
    ~temp_dir() { fs::remove_all(path); }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Peak resident memory of this process so far, in KiB.
long peak_rss_kib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

std::uint32_t crc32(const std::string& s) {
    std::uint32_t c = 0xffffffffu;
    for (unsigned char b : s) {
        c ^= b;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

std::string npy_header(const std::string& descr, const std::string& shape) {
    std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    h += std::string((64 - (10 + h.size() + 1) % 64) % 64, ' ') + "\n";
    return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(h.size() & 0xff) + static_cast<char>(h.size() >> 8) + h;
}

// A float32 tensor as .npy bytes.
std::string npy(const tensor& t) {
    std::string shape = "(";
    for (auto d : t.shape()) shape += std::to_string(d) + (t.dim() == 1 ? ",)" : ", ");
    if (t.dim() != 1) shape += ")";
    std::string out = npy_header("<f4", shape);
    for (std::size_t i = 0; i < t.size(); ++i) {
        const float f = static_cast<float>(t.flat(i));
        out.append(reinterpret_cast<const char*>(&f), sizeof f);
    }
    return out;
}

// A raw deflate stream (one block, fixed Huffman codes) of `prefix` followed by `zeros` zero bytes:
// the zeros are a literal 0 then <length 258, distance 1> copies, 13 bits per 258 bytes, so 1 GiB
// costs about 6.8 MB.
std::string deflate_zeros(const std::string& prefix, std::uint64_t zeros) {
    std::string out;
    std::uint64_t acc = 0;
    int nbits = 0;
    const auto put = [&](std::uint32_t v, int n) {  // LSB first
        acc |= static_cast<std::uint64_t>(v) << nbits;
        nbits += n;
        while (nbits >= 8) {
            out += static_cast<char>(acc & 0xff);
            acc >>= 8;
            nbits -= 8;
        }
    };
    const auto code = [&](std::uint32_t c, int n) {  // Huffman codes go MSB first
        std::uint32_t r = 0;
        for (int i = 0; i < n; ++i) r |= ((c >> i) & 1u) << (n - 1 - i);
        put(r, n);
    };
    const auto literal = [&](unsigned char v) {
        if (v < 144) code(0x30 + v, 8);
        else code(0x190 + (v - 144), 9);
    };
    put(1, 1);  // final block
    put(1, 2);  // fixed Huffman
    for (unsigned char c : prefix) literal(c);
    if (zeros > 0) {
        literal(0);
        --zeros;
    }
    for (; zeros >= 258; zeros -= 258) {
        code(0xc5, 8);  // length symbol 285: 258
        code(0, 5);     // distance symbol 0: 1
    }
    for (; zeros > 0; --zeros) literal(0);
    code(0, 7);  // end of block
    if (nbits) put(0, 8 - nbits);
    return out;
}

struct raw_member {
    std::string name;
    std::string data;            // as stored (compressed when deflated)
    std::uint64_t size = 0;      // uncompressed size the ZIP records declare
    bool deflated = false;
    std::uint32_t crc = 0;
};

raw_member stored(const std::string& name, const std::string& bytes) {
    return {name, bytes, bytes.size(), false, crc32(bytes)};
}

// A ZIP archive written byte by byte (local headers, central directory, end record), so a test can
// declare sizes and names that libzip would not write.
void write_zip(const std::string& path, const std::vector<raw_member>& members) {
    std::string out, cd;
    const auto u16 = [](std::string& s, std::uint32_t v) { s += static_cast<char>(v & 0xff), s += static_cast<char>(v >> 8 & 0xff); };
    const auto u32 = [&](std::string& s, std::uint32_t v) { u16(s, v & 0xffff), u16(s, v >> 16); };
    for (const auto& m : members) {
        const auto offset = static_cast<std::uint32_t>(out.size());
        const auto common = [&](std::string& s) {
            u16(s, 20), u16(s, 0), u16(s, m.deflated ? 8 : 0), u16(s, 0), u16(s, 0x21);  // version, flags, method, time, date
            u32(s, m.crc), u32(s, static_cast<std::uint32_t>(m.data.size())), u32(s, static_cast<std::uint32_t>(m.size));
            u16(s, static_cast<std::uint32_t>(m.name.size())), u16(s, 0);
        };
        out += std::string("PK\x03\x04", 4);
        common(out);
        out += m.name + m.data;
        cd += std::string("PK\x01\x02", 4);
        u16(cd, 20);
        common(cd);
        u16(cd, 0), u16(cd, 0), u16(cd, 0), u32(cd, 0), u32(cd, offset);  // comment, disk, attributes, offset
        cd += m.name;
    }
    const auto cd_offset = static_cast<std::uint32_t>(out.size());
    out += cd + std::string("PK\x05\x06", 4);
    u16(out, 0), u16(out, 0), u16(out, static_cast<std::uint32_t>(members.size())), u16(out, static_cast<std::uint32_t>(members.size()));
    u32(out, static_cast<std::uint32_t>(cd.size())), u32(out, cd_offset), u16(out, 0);
    std::ofstream(path, std::ios::binary) << out;
}

constexpr std::uint64_t gib = std::uint64_t{1} << 30;
constexpr long bound_kib = 64 * 1024;  // what a refused bomb may add to the peak RSS

// A member whose header says `shape` of float32 and whose data inflates to `inflated` zero bytes.
// `declared`: the uncompressed size the ZIP records give. The CRC is left 0: the reader must refuse
// the member before reaching its end, where libzip would check it.
raw_member bomb(const std::string& name, const std::string& shape, std::uint64_t inflated, std::uint64_t declared_data) {
    const std::string header = npy_header("<f4", shape);
    return {name, deflate_zeros(header, inflated), header.size() + declared_data, true, 0};
}

}  // namespace

TEST_CASE("a member that inflates to 1 GiB under a header of shape (1,) is refused without inflating it") {
    temp_dir dir;
    // (a) the ZIP directory tells the truth (1 GiB): refused from the header and the directory alone;
    // (b) it lies (4 bytes, as the header): refused after 4 + 1 inflated bytes.
    for (const std::uint64_t declared : {gib, std::uint64_t{4}}) {
        CAPTURE(declared);
        const std::string path = dir / "bomb.npz";
        write_zip(path, {bomb("w.npy", "(1,)", gib, declared)});
        CHECK(fs::file_size(path) < 8'000'000);
        const long before = peak_rss_kib();
        const std::string msg = message_of<nn::checkpoint_corrupt_error>([&] { nn::read_npz(path); });
        CHECK(peak_rss_kib() - before < bound_kib);
        CHECK(contains(msg, "bomb.npz"));
        CHECK(contains(msg, "'w.npy'"));
        CHECK(contains(msg, declared == 4 ? "inflates to more than the 4 data bytes its header declares"
                                          : "needs 4 data bytes, the member has 1073741824"));
        CHECK(contains(msg, "re-save it"));
    }
}

TEST_CASE("a load inflates only the arrays that fit the model: unexpected and wrong-shape bombs are never read") {
    temp_dir dir;
    nn::linear a(3, 2, true, nn::init_style::keras, 1), into(3, 2, true, nn::init_style::keras, 2);
    const auto params = a.named_parameters();
    // body: the model's two arrays; "weight" is replaced by a 1 GiB array of the wrong shape in one file
    const std::string path = dir / "bombs.npz";
    write_zip(path, {stored("bias.npy", npy(params[1].second.value())),
                     bomb("weight.npy", "(268435456,)", gib, gib),  // the model wants [2, 3]
                     bomb("extra.npy", "(268435456,)", gib, gib)});
    const long before = peak_rss_kib();
    const auto mismatch = message_of<nn::checkpoint_mismatch_error>([&] { nn::load_checkpoint(path, into); });
    CHECK(contains(mismatch, "wrong shape (1): weight: file [268435456], model [2, 3]"));
    CHECK(contains(mismatch, "unexpected (1): extra"));
    const auto r = nn::load_checkpoint(path, into, nullptr, {.strict = false});
    CHECK(peak_rss_kib() - before < bound_kib);
    CHECK(r.loaded == std::vector<std::string>{"bias"});
    CHECK(into.named_parameters()[1].second.value().flat(1) == doctest::Approx(params[1].second.value().flat(1)));
}

TEST_CASE("a charlm checkpoint whose metadata does not fit its arrays is refused before the model is built") {
    temp_dir dir;
    nn::char_model small({.cell = "lstm", .hidden = 4, .embed = 3}, nn::vocabulary::from_chars("abc\n"));
    const std::string good = dir / "good.npz", bad = dir / "hidden12000.npz";
    nn::save_char_model(good, small);
    nn::named_tensors arrays = nn::load_npz(good);
    for (auto& [name, t] : arrays)
        if (name == "meta.hidden") t = tensor::scalar(12000, dtype::float64);
    nn::save_npz(bad, arrays, {.compress = true});
    CHECK(fs::file_size(bad) < 4096);
    const long before = peak_rss_kib();  // the model it describes would take 2.3 GB
    const std::string msg = message_of<nn::checkpoint_error>([&] { nn::load_char_model(bad); });
    CHECK(peak_rss_kib() - before < bound_kib);
    CHECK(contains(msg, "hidden12000.npz"));
    CHECK(contains(msg, "meta.hidden = 12000"));
    CHECK(contains(msg, "'lstm.weight_ih_l0'"));
    CHECK(contains(msg, "needs [48000, 3], the file holds [16, 3]"));
    // a missing array is named too, and a good file loads
    arrays.erase(arrays.begin());  // embed.weight
    nn::save_npz(bad, arrays);
    CHECK(contains(message_of<nn::checkpoint_error>([&] { nn::load_char_model(bad); }), "no array 'embed.weight'"));
    CHECK(nn::load_char_model(good)->options().hidden == 4);
}

TEST_CASE("char_model_parameter_shapes lists exactly the parameters of a built char_model") {
    for (const std::string cell : {"lstm", "gru"}) {
        CAPTURE(cell);
        const nn::char_model_options o{.cell = cell, .hidden = 5, .embed = 3};
        nn::char_model m(o, nn::vocabulary::from_chars("xyz"));
        std::vector<std::pair<std::string, shape_t>> built;
        for (auto& [name, p] : m.named_parameters()) built.emplace_back(name, p.shape());
        CHECK(built == nn::char_model_parameter_shapes(o, 3));
    }
}

TEST_CASE("NaN or infinite weights are refused on load, naming file, array and first element, unless allowed") {
    temp_dir dir;
    nn::linear a(3, 2, true, nn::init_style::keras, 1);
    const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
    for (const double bad : {nan, -inf}) {
        CAPTURE(bad);
        nn::linear into(3, 2, true, nn::init_style::keras, 2);
        a.named_parameters()[0].second.value().set_flat(4, bad);
        nn::save_checkpoint(dir / "diverged.npz", a);
        const double kept = into.named_parameters()[0].second.value().flat(4);
        const std::string msg = message_of<nn::checkpoint_nonfinite_error>([&] { nn::load_checkpoint(dir / "diverged.npz", into); });
        CHECK(contains(msg, "diverged.npz"));
        CHECK(contains(msg, "'weight' [2, 3]"));
        CHECK(contains(msg, std::string(std::isnan(bad) ? "NaN" : "-inf") + " at flat index 4 (element [1, 1])"));
        CHECK(contains(msg, "allow_nonfinite"));
        CHECK(into.named_parameters()[0].second.value().flat(4) == kept);  // nothing was loaded
        nn::load_checkpoint(dir / "diverged.npz", into, nullptr, {.allow_nonfinite = true});
        const double got = into.named_parameters()[0].second.value().flat(4);
        CHECK((std::isnan(bad) ? std::isnan(got) : got == bad));
    }
}

TEST_CASE("impossible optimizer state in a checkpoint changes neither the model nor the optimizer") {
    temp_dir dir;
    nn::linear a(3, 2, true, nn::init_style::keras, 1), into(3, 2, true, nn::init_style::keras, 2);
    nn::adam opt(a, {.lr = 0.1});
    {
        tape t;
        var x = input(tensor::ones({1, 3}));
        t.backward(sum(a(x)));
        opt.step();
    }
    nn::named_tensors entries;
    for (auto& [name, p] : a.named_parameters()) entries.emplace_back(name, p.value());
    for (auto& [name, t] : opt.state()) {
        tensor v = t;
        if (name == "adam.v.weight") v.set_flat(0, -1);  // a negative mean of squares
        entries.emplace_back(nn::optimizer_prefix + name, v);
    }
    nn::save_npz(dir / "bad_state.npz", entries);
    nn::adam into_opt(into, {.lr = 0.1});
    const double kept = into.named_parameters()[0].second.value().flat(0);
    const std::string msg = message_of<nn::checkpoint_error>([&] { nn::load_checkpoint(dir / "bad_state.npz", into, &into_opt); });
    CHECK(contains(msg, "bad_state.npz"));
    CHECK(contains(msg, "adam.v.weight"));
    CHECK(contains(msg, "negative"));
    CHECK(into.named_parameters()[0].second.value().flat(0) == kept);
    CHECK(into_opt.steps() == 0);
}

TEST_CASE("a duplicate ZIP member is named, with what it means and what to do") {
    temp_dir dir;
    const std::string bytes = npy(tensor::ones({2}));
    write_zip(dir / "dup.npz", {stored("a.npy", bytes), stored("b.npy", bytes), stored("a.npy", bytes)});
    const std::string msg = message_of<nn::checkpoint_corrupt_error>([&] { nn::read_npz(dir / "dup.npz"); });
    CHECK(contains(msg, "dup.npz"));
    CHECK(contains(msg, "the array 'a' (member 'a.npy') twice"));
    CHECK(contains(msg, "re-save it"));
    CHECK(!contains(msg, "File already exists"));
}

TEST_CASE("headers are bounded: a 2 GiB header length is refused without reading it") {
    temp_dir dir;
    std::string bytes = npy(tensor::ones({2}));
    bytes[6] = 2;  // version 2: a 4-byte header length
    bytes.replace(8, 2, std::string("\x00\x00\x00\x80", 4));
    write_zip(dir / "header.npz", {stored("a.npy", bytes)});
    CHECK(contains(message_of<nn::checkpoint_corrupt_error>([&] { nn::read_npz(dir / "header.npz"); }),
                   "a header of 2147483648 bytes"));
}

TEST_CASE("the fuzzer's regression inputs load or throw a checkpoint_error, never anything else") {
    const fs::path regressions = fs::path(XGRAD_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
    std::size_t files = 0;
    nn::linear m(3, 2, true, nn::init_style::keras, 1);
    for (const auto& e : fs::directory_iterator(regressions)) {
        if (!e.is_regular_file() || e.path().extension() == ".md") continue;
        CAPTURE(e.path().string());
        ++files;
        try {
            nn::read_npz(e.path().string());
            nn::load_checkpoint(e.path().string(), m, nullptr, {.strict = false});
            nn::load_char_model(e.path().string());
        } catch (const nn::checkpoint_error&) {
        }
    }
    CHECK(files > 0);
}

TEST_CASE("an impossible step count is listed as a bad value, not as a wrong shape") {
    temp_dir dir;
    nn::linear m(3, 2, true, nn::init_style::keras, 1);
    nn::adam opt(m);
    const std::string good = dir / "good.npz", bad = dir / "nan_step.npz";
    nn::save_checkpoint(good, m, &opt);
    nn::named_tensors arrays = nn::load_npz(good);
    bool changed = false;
    for (auto& [name, t] : arrays)
        if (name == std::string(nn::optimizer_prefix) + "adam.step") {
            t = tensor::scalar(std::nan(""), dtype::float64);
            changed = true;
        }
    REQUIRE(changed);
    nn::save_npz(bad, arrays);
    nn::adam fresh(m);
    const auto message = message_of<nn::checkpoint_mismatch_error>([&] { nn::load_checkpoint(bad, m, &fresh); });
    CHECK(contains(message, "bad value (1): optim/adam.step: holds nan, expected a whole number >= 0"));
    CHECK_FALSE(contains(message, "wrong shape"));
}
