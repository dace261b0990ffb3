// The character-level language model behind `xgrad generate`: nn/text.hpp (vocabulary, corpus),
// nn::char_model (nn/models.hpp) and nn/char_lm.hpp (training, bits per character, sampling, checkpoints).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

#include <xgrad/xgrad.hpp>

using namespace xgrad;
using namespace xgrad::nn;

namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("xgrad_test_charlm_" + name)).string();
}

std::string repeated(const std::string& unit, std::size_t times) {
    std::string s;
    for (std::size_t i = 0; i < times; ++i) s += unit;
    return s;
}

}  // namespace

TEST_CASE("charlm: vocabulary encodes bytes in sorted order and rejects unknown ones") {
    const vocabulary v("hello\n");
    CHECK(v.chars() == "\nehlo");
    CHECK(v.id('h') == 2);
    CHECK(v.encode("lol") == std::vector<std::size_t>{3, 4, 3});
    CHECK_THROWS_WITH_AS(v.encode("hex"), doctest::Contains("'x' is not in the model's vocabulary"), argument_error);
    std::size_t dropped = 0;
    CHECK(v.encode("hex!", &dropped).size() == 2);
    CHECK(dropped == 2);
}

TEST_CASE("charlm: corpus errors are clear") {
    CHECK_THROWS_WITH_AS(read_corpus({temp_path("no_such.txt")}), doctest::Contains("cannot read the text file"), argument_error);
    const std::string empty = temp_path("empty.txt"), one = temp_path("one.txt");
    { std::ofstream(empty, std::ios::binary); }
    { std::ofstream(one, std::ios::binary) << "aaaaaaaa"; }
    CHECK_THROWS_WITH_AS(read_corpus({empty}), doctest::Contains("is empty"), argument_error);
    CHECK_THROWS_WITH_AS(read_corpus({one}), doctest::Contains("at least 2"), argument_error);
    std::filesystem::remove(empty);
    std::filesystem::remove(one);
}

TEST_CASE("charlm: training a few steps on a repeated string lowers held-out bits per character") {
    const corpus data = split_corpus(repeated("the cat sat on the mat. ", 40));
    CHECK(data.vocab.size() == 11);
    CHECK(data.held_out.size() == 96);
    char_model model({.cell = "lstm", .hidden = 24, .embed = 8, .seed = 1}, data.vocab);
    std::size_t evaluations = 0, steps_seen = 0;
    const auto r = train_char_model(model, data.train, data.held_out, {.seq = 16, .batch = 4, .steps = 60, .lr = 1e-2},
                                [&](const char_train_progress& p) { p.evaluated ? ++evaluations : ++steps_seen; });
    CHECK(steps_seen == 60);
    CHECK(evaluations == 10);
    CHECK(r.initial_bpc == doctest::Approx(std::log2(11.0)).epsilon(0.05));  // an untrained model is near uniform
    CHECK(r.final_bpc < 0.6 * r.initial_bpc);
    CHECK(r.final_bpc == doctest::Approx(bits_per_char(model, data.held_out, 16)));
}

TEST_CASE("charlm: training needs batch x (seq + 1) characters") {
    const corpus data = split_corpus(repeated("ab", 20));
    char_model model({.hidden = 4, .embed = 2}, data.vocab);
    CHECK_THROWS_WITH_AS(train_char_model(model, data.train, data.held_out, {.seq = 16, .batch = 4, .steps = 1}),
                         doctest::Contains("lower --batch/--seq"), argument_error);
}

TEST_CASE("charlm: a checkpoint round trip gives identical logits and samples") {
    for (const std::string cell : {"lstm", "gru"}) {
        CAPTURE(cell);
        const corpus data = split_corpus(repeated("abcabd\n", 30));
        char_model model({.cell = cell, .hidden = 12, .embed = 5, .seed = 3}, data.vocab);
        train_char_model(model, data.train, data.held_out, {.seq = 8, .batch = 2, .steps = 5});
        const std::string path = temp_path(cell + ".npz");
        save_char_model(path, model);
        const auto loaded = load_char_model(path);
        CHECK(loaded->options().cell == cell);
        CHECK(loaded->options().hidden == 12);
        CHECK(loaded->options().embed == 5);
        CHECK(loaded->vocab().chars() == data.vocab.chars());
        tape t;
        tensor x = tensor::zeros({2, 3});
        for (std::size_t i = 0; i < 6; ++i) x.set_flat(i, double(i % data.vocab.size()));
        char_model_state s1, s2;
        const tensor a = model(x, s1).value(), b = (*loaded)(x, s2).value();
        REQUIRE(a.size() == b.size());
        for (std::size_t i = 0; i < a.size(); ++i) CHECK(a.flat(i) == b.flat(i));
        CHECK(sample(model, "ab", 40, 1.0, 9) == sample(*loaded, "ab", 40, 1.0, 9));
        CHECK(sample(model, "ab", 40, 1.0, 9) != sample(model, "ab", 40, 1.0, 10));  // the seed matters
        std::filesystem::remove(path);
    }
}

TEST_CASE("charlm: loading something that is not a charlm checkpoint fails clearly") {
    CHECK_THROWS_WITH_AS(load_char_model(temp_path("missing.npz")), doctest::Contains("does not exist"), nn::checkpoint_error);
    const std::string path = temp_path("plain.npz");
    nn::save_npz(path, {{"w", tensor::zeros({2})}});
    CHECK_THROWS_WITH_AS(load_char_model(path), doctest::Contains("is not an `xgrad generate` (charlm) checkpoint"),
                         nn::checkpoint_error);
    std::filesystem::remove(path);
}

TEST_CASE("charlm: temperature shapes the sampling distribution") {
    const corpus data = split_corpus(repeated("abcab", 20));
    char_model model({.hidden = 8, .embed = 4, .seed = 5}, data.vocab);
    tensor logits = tensor::zeros({3}, dtype::float64);
    logits.set_flat(0, 1.0);
    logits.set_flat(1, 2.0);
    logits.set_flat(2, 0.5);
    const auto p1 = next_char_probs(logits, 1.0), cold = next_char_probs(logits, 0.01), hot = next_char_probs(logits, 100.0);
    CHECK(p1[0] + p1[1] + p1[2] == doctest::Approx(1.0));
    CHECK(p1[1] / p1[0] == doctest::Approx(std::exp(1.0)));
    CHECK(cold[1] > 0.999999);                          // very low temperature: all mass on the argmax
    CHECK(hot[0] == doctest::Approx(1.0 / 3).epsilon(0.02));  // very high: near uniform
    // a very low temperature samples exactly the greedy (temperature 0) continuation, for any seed
    const std::string greedy = sample(model, "ab", 30, 0.0, 1);
    CHECK(sample(model, "ab", 30, 1e-4, 1) == greedy);
    CHECK(sample(model, "ab", 30, 1e-4, 77) == greedy);
    CHECK(sample(model, "ab", 30, 0.0, 2) == greedy);
    CHECK_THROWS_WITH_AS(sample(model, "ab", 5, -1.0, 1), doctest::Contains("temperature must be >= 0"), argument_error);
    CHECK_THROWS_AS(next_char_probs(logits, 0.0), argument_error);
    CHECK_THROWS_WITH_AS(sample(model, "abz", 5, 1.0, 1), doctest::Contains("'z' is not in the model's vocabulary"),
                         argument_error);
}

TEST_CASE("checkpoint: metadata arrays round-trip and are not unexpected on load") {
    const corpus data = split_corpus(repeated("xyz", 10));
    char_model model({.hidden = 4, .embed = 2}, data.vocab);
    const std::string path = temp_path("meta.npz");
    nn::save_options so;
    so.metadata = {{"answer", tensor::scalar(42.0, dtype::float64)}};
    nn::save_checkpoint(path, model, nullptr, so);
    const auto meta = nn::read_metadata(path);
    REQUIRE(meta.size() == 1);
    CHECK(meta[0].first == "answer");
    CHECK(meta[0].second.item() == 42.0);
    const auto r = nn::load_checkpoint(path, model);  // strict
    CHECK(r.complete());
    CHECK(r.metadata == std::vector<std::string>{"meta.answer"});
    std::filesystem::remove(path);
}
