// ONNX export (nn/onnx.hpp). "onnx cases" exports every supported layer kind to <dir>/<case>.onnx with
// <case>.json: the inputs and xgrad's own outputs for several batch sizes and sequence lengths, which
// tests/onnx/run.js runs in onnxruntime and compares (ctest onnx_runtime_matches). <dir> is
// $XGRAD_ONNX_OUT, or a fresh temporary folder. The other cases check the file itself (parsed back with
// protobuf) and the errors, without a runtime.
#include <doctest/doctest.h>

#include <onnx/onnx_pb.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <set>
#include <sstream>

#include <xgrad/nn/onnx.hpp>
#include <xgrad/xgrad.hpp>

using namespace xgrad;
namespace nn = xgrad::nn;
namespace fs = std::filesystem;

namespace {

fs::path out_dir() {
    const char* env = std::getenv("XGRAD_ONNX_OUT");
    fs::path d = env && *env ? fs::path(env) : fs::temp_directory_path() / ("xgrad-onnx-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
}

void randomise(nn::module& m, std::uint64_t seed) {
    rng gen(seed);
    for (auto& p : m.parameters()) p.value() = uniform(p.shape(), -0.6, 0.6, gen, p.dtype());
}

std::string json_numbers(const tensor& t) {
    std::ostringstream o;
    o << std::setprecision(17) << "[";
    for (std::size_t i = 0; i < t.size(); ++i) o << (i ? "," : "") << t.flat(i);
    return o.str() + "]";
}
std::string json_shape(const shape_t& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
}

// One exported model and its runs: x -> xgrad's y for each (batch, time).
struct case_writer {
    std::string name;
    std::vector<std::string> runs;
    void add(const tensor& x, const shape_t& y_shape, const tensor& y) {
        REQUIRE(y.size() > 0);
        runs.push_back("{\"x_shape\":" + json_shape(x.shape()) + ",\"x\":" + json_numbers(x) +
                       ",\"y_shape\":" + json_shape(y_shape) + ",\"y\":" + json_numbers(y) + "}");
    }
    void write(const nn::onnx_export_info& info, bool expect_match, double tol) {
        std::ofstream f(out_dir() / (name + ".json"));
        f << "{\"model\":\"" << name << ".onnx\",\"input\":\"" << info.input.name << "\",\"input_type\":\""
          << info.input.elem_type << "\",\"output\":\"" << info.output.name << "\",\"expect\":\""
          << (expect_match ? "match" : "mismatch") << "\",\"tolerance\":" << tol << ",\"runs\":[";
        for (std::size_t i = 0; i < runs.size(); ++i) f << (i ? ",\n" : "\n") << runs[i];
        f << "]}\n";
        REQUIRE(f.good());
    }
};

const std::vector<std::pair<std::size_t, std::size_t>> sizes = {{1, 1}, {2, 5}, {3, 2}, {5, 7}};

// A recurrent-input model (x [B, T, F] -> y): export once, run xgrad at every size.
void sequence_case(const std::string& name, nn::module& m, std::size_t features, dtype d,
                   const std::function<var(const var&)>& forward, const nn::onnx_options& opt = {},
                   bool expect_match = true) {
    randomise(m, std::hash<std::string>{}(name) % 1000);
    const auto info = nn::export_onnx(m, (out_dir() / (name + ".onnx")).string(), opt);
    CHECK(info.input.dims == std::vector<std::string>{"batch", "time", std::to_string(features)});
    case_writer w{name, {}};
    rng gen(11);
    for (auto [b, t] : sizes) {
        const tensor x = uniform({b, t, features}, -1, 1, gen, d);
        const tensor y = forward(input(x)).value();
        shape_t ys = y.shape();
        w.add(x, ys, y);
        tape::active().clear();
    }
    w.write(info, expect_match, d == dtype::float64 ? 1e-12 : 1e-5);
}

nn::recurrent_options ro(std::size_t in, std::size_t hidden, std::size_t layers, bool seq, dtype d = dtype::float32) {
    nn::recurrent_options o;
    o.input_size = in;
    o.hidden_size = hidden;
    o.num_layers = layers;
    o.return_sequences = seq;
    o.dt = d;
    return o;
}

onnx::ModelProto parse(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    onnx::ModelProto m;
    REQUIRE(m.ParseFromIstream(&f));
    return m;
}

struct custom_layer : nn::module {
    nn::linear inner{2, 2};
    custom_layer() : module("custom_layer") { register_module("inner", inner); }
};

}  // namespace

TEST_CASE("onnx cases: every supported layer kind, exported with inputs and xgrad outputs") {
    const dtype f32 = dtype::float32, f64 = dtype::float64;
    tape tp;
    INFO("cases in " << out_dir().string());
    {  // linear alone: x [batch, 3]
        nn::linear m(3, 4);
        randomise(m, 1);
        const auto info = nn::export_onnx(m, (out_dir() / "linear.onnx").string());
        CHECK(info.input.dims == std::vector<std::string>{"batch", "3"});
        case_writer w{"linear", {}};
        rng gen(2);
        for (std::size_t b : {1, 4, 9}) {
            const tensor x = uniform({b, 3}, -1, 1, gen, f32);
            w.add(x, {b, 4}, m(input(x)).value());
        }
        tape::active().clear();
        w.write(info, true, 1e-5);
    }
    {  // embedding alone: ids [batch, time] int64
        nn::embedding m(10, 6);
        randomise(m, 3);
        const auto info = nn::export_onnx(m, (out_dir() / "embedding.onnx").string());
        CHECK(info.input.elem_type == "int64");
        case_writer w{"embedding", {}};
        rng gen(4);
        for (auto [b, t] : sizes) {
            tensor ids = tensor::zeros({b, t}, f32);
            for (std::size_t i = 0; i < ids.size(); ++i) ids.set_flat(i, double(gen.index(10)));
            w.add(ids, {b, t, 6}, m(input(ids)).value());
        }
        tape::active().clear();
        w.write(info, true, 1e-5);
    }
    struct rec {
        std::string name, cell;
        std::size_t layers;
        bool seq, bias = true;
        std::string act = "tanh";
        dtype d = dtype::float32;
        nn::bias_layout biases = nn::bias_layout::pytorch;
        bool bidirectional = false;
    };
    const std::vector<rec> recs = {
        {"rnn_tanh", "rnn", 1, true},       {"rnn_relu_2layers", "rnn", 2, false, true, "relu"},
        {"rnn_sigmoid", "rnn", 1, false, true, "sigmoid"},
        {"lstm", "lstm", 1, false},         {"lstm_2layers_seq", "lstm", 2, true},
        {"lstm_nobias", "lstm", 1, true, false},
        {"gru", "gru", 1, false},           {"gru_3layers_seq", "gru", 3, true},
        {"gru_nobias", "gru", 2, false, false},
        // Keras's single bias b, exported as B = [b, 0]
        {"rnn_keras_bias", "rnn", 1, true, true, "tanh", dtype::float32, nn::bias_layout::keras},
        {"lstm_keras_bias_2layers", "lstm", 2, false, true, "tanh", dtype::float32, nn::bias_layout::keras},
        // direction "bidirectional": W, R, B stacked [2, ...]; y = [fwd | reverse] features
        {"rnn_bi", "rnn", 1, true, true, "tanh", f32, nn::bias_layout::pytorch, true},
        {"rnn_relu_bi_last", "rnn", 1, false, true, "relu", f32, nn::bias_layout::pytorch, true},
        {"lstm_bi_2layers_seq", "lstm", 2, true, true, "tanh", f32, nn::bias_layout::pytorch, true},
        {"lstm_bi_last", "lstm", 1, false, true, "tanh", f32, nn::bias_layout::pytorch, true},
        {"gru_bi_2layers_last", "gru", 2, false, true, "tanh", f32, nn::bias_layout::pytorch, true},
        {"gru_bi_nobias_seq", "gru", 2, true, false, "tanh", f32, nn::bias_layout::pytorch, true},
        {"lstm_bi_keras_bias", "lstm", 1, true, true, "tanh", f32, nn::bias_layout::keras, true},
    };
    for (const auto& r : recs) {
        auto o = ro(3, 5, r.layers, r.seq, r.d);
        o.bias = r.bias;
        o.activation = r.act;
        o.biases = r.biases;
        o.bidirectional = r.bidirectional;
        auto m = nn::make_recurrent(r.cell, o);
        sequence_case(r.name, *m, 3, r.d, [&](const var& x) { return m->forward(x, {}); });
    }
    {  // a sequential stack: lstm (sequences) -> gru -> linear
        nn::sequential s;
        s.emplace<nn::lstm>("enc", ro(2, 6, 1, true));
        s.emplace<nn::gru>("dec", ro(6, 4, 1, false));
        s.emplace<nn::linear>("head", 4, 3);
        sequence_case("sequential", s, 2, f32, [&](const var& x) { return s(x); });
    }
    {  // linear before a recurrent layer: x [batch, time, 4]
        nn::sequential s;
        s.emplace<nn::linear>("proj", 4, 3);
        s.emplace<nn::rnn>("rnn", ro(3, 5, 1, true));
        s.emplace<nn::linear>("head", 5, 2);
        sequence_case("sequential_linear_first", s, 4, f32, [&](const var& x) { return s(x); });
    }
    for (const std::string cell : {"rnn", "lstm", "gru"}) {  // `xgrad train`'s model
        nn::sequence_regressor m({.cell = cell, .hidden = 7, .input_size = 2, .output_size = 1});
        sequence_case("regressor_" + cell, m, 2, f32, [&](const var& x) { return m(x); });
    }
    {  // `xgrad train`'s default model: Keras's single bias
        nn::sequence_regressor m({.cell = "rnn", .hidden = 7, .input_size = 2, .output_size = 1,
                                  .biases = nn::bias_layout::keras});
        sequence_case("regressor_rnn_keras_bias", m, 2, f32, [&](const var& x) { return m(x); });
    }
    {  // `xgrad train --layers 2 --bidirectional --dropout 0.2`: the head reads [batch, 2·hidden]; dropout is
       // off in evaluation, which is what the export computes
        nn::sequence_regressor m({.cell = "gru", .hidden = 5, .input_size = 2, .output_size = 3, .num_layers = 2,
                                  .bidirectional = true, .dropout = 0.2});
        m.eval();
        sequence_case("regressor_gru_bi_2layers_dropout", m, 2, f32, [&](const var& x) { return m(x); });
    }
    {  // float64 where onnxruntime runs it: linear layers (its recurrent kernels are float32 only)
        nn::sequential s;
        s.emplace<nn::linear>("a", 3, 5, true, nn::init_style::keras, 0, f64);
        s.emplace<nn::linear>("b", 5, 2, true, nn::init_style::keras, 1, f64);
        randomise(s, 7);
        const auto info = nn::export_onnx(s, (out_dir() / "linear_f64.onnx").string());
        CHECK(info.input.elem_type == "float64");
        case_writer w{"linear_f64", {}};
        rng gen(8);
        for (std::size_t b : {1, 3, 6}) {
            const tensor x = uniform({b, 3}, -1, 1, gen, f64);
            w.add(x, {b, 2}, s(input(x)).value());
        }
        tape::active().clear();
        w.write(info, true, 1e-12);
    }
    for (const std::string cell : {"lstm", "gru"}) {  // `xgrad generate`'s model: logits [batch, time, vocab]
        nn::char_model m({.cell = cell, .hidden = 8, .embed = 5}, nn::vocabulary("abcdefg \n"));
        randomise(m, 5);
        const std::string name = "char_model_" + cell;
        const auto info = nn::export_onnx(m, (out_dir() / (name + ".onnx")).string());
        CHECK(info.output.dims == std::vector<std::string>{"batch", "time", "9"});
        case_writer w{name, {}};
        rng gen(6);
        for (auto [b, t] : sizes) {
            tensor ids = tensor::zeros({b, t}, dtype::float32);
            for (std::size_t i = 0; i < ids.size(); ++i) ids.set_flat(i, double(gen.index(9)));
            nn::char_model_state state;
            w.add(ids, {b, t, 9}, m(ids, state).value());  // [b·t, 9]: the same values, row b·T + t
            tape::active().clear();
        }
        w.write(info, true, 1e-5);
    }
    // A wrong gate order (PyTorch's, unchanged) exports a valid file that computes something else: the
    // runtime comparison must see it (run.js expects these two to mismatch).
    for (const std::string cell : {"lstm", "gru"}) {
        auto m = nn::make_recurrent(cell, ro(3, 5, 1, true));
        sequence_case("wrong_gates_" + cell, *m, 3, f32, [&](const var& x) { return m->forward(x, {}); },
                      {.wrong_gate_order_for_testing = true}, false);
    }
}

TEST_CASE("onnx export keeps parameter names as initializers and names the dynamic dimensions") {
    nn::sequence_regressor m({.cell = "gru", .hidden = 3, .input_size = 2});
    const fs::path p = out_dir() / "names.onnx";
    nn::export_onnx(m, p.string());
    const onnx::ModelProto mp = parse(p);
    std::set<std::string> inits;
    for (const auto& t : mp.graph().initializer()) inits.insert(t.name());
    for (const auto& [name, param] : m.named_parameters()) {
        INFO(name);
        CHECK(inits.count(name) == 1);
    }
    for (const auto& t : mp.graph().initializer())
        if (t.name() == "gru.weight_hh_l0") {  // the xgrad value unchanged (PyTorch gate order r, z, n)
            REQUIRE(t.raw_data().size() == 9 * 3 * 4);
            float first = 0;
            std::memcpy(&first, t.raw_data().data(), 4);
            CHECK(first == m.find("gru.weight_hh_l0").value().flat(0));
        }
    REQUIRE(mp.graph().input_size() == 1);
    const auto& in = mp.graph().input(0).type().tensor_type().shape();
    REQUIRE(in.dim_size() == 3);
    CHECK(in.dim(0).dim_param() == "batch");
    CHECK(in.dim(1).dim_param() == "time");
    CHECK(in.dim(2).dim_value() == 2);
    const auto& out = mp.graph().output(0).type().tensor_type().shape();
    REQUIRE(out.dim_size() == 2);
    CHECK(out.dim(0).dim_param() == "batch");
    bool gru_ok = false;
    for (const auto& n : mp.graph().node())
        if (n.op_type() == "GRU")
            for (const auto& a : n.attribute()) {
                if (a.name() == "linear_before_reset") gru_ok = a.i() == 1;
                if (a.name() == "layout") CHECK(a.i() == 0);
            }
    CHECK(gru_ok);
    CHECK(mp.opset_import(0).version() == 17);
}

TEST_CASE("onnx export refuses what it cannot express, naming the layer, and writes nothing") {
    const fs::path p = out_dir() / "refused.onnx";
    { std::ofstream(p) << "previous"; }
    auto unchanged = [&] {
        std::ifstream f(p);
        std::string s;
        f >> s;
        return s == "previous";
    };
    custom_layer c;
    CHECK_THROWS_WITH_AS(nn::export_onnx(c, p.string()), doctest::Contains("(custom_layer) is not exportable"),
                         nn::onnx_export_error);
    CHECK(unchanged());

    nn::sequential s;
    s.emplace<nn::lstm>("lstm", ro(1, 4, 1, true));
    s.add("squash", [](const var& x) { return tanh(x); });
    CHECK_THROWS_WITH_AS(nn::export_onnx(s, p.string()), doctest::Contains("step 1 'squash'"), nn::onnx_export_error);
    CHECK(unchanged());

    auto elu = ro(1, 4, 1, false);
    elu.activation = "elu";
    nn::rnn r(elu);
    CHECK_THROWS_WITH_AS(nn::export_onnx(r, p.string()), doctest::Contains("activation 'elu'"), nn::onnx_export_error);

    nn::sequential wrong;  // the checkers accept a W that does not fit the input: the exporter must not
    wrong.emplace<nn::linear>("proj", 2, 3);
    wrong.emplace<nn::lstm>("lstm", ro(5, 4, 1, false));
    CHECK_THROWS_WITH_AS(nn::export_onnx(wrong, p.string()),
                         doctest::Contains("layer 'lstm' (lstm) expects 5 input features but receives [batch, time, 3]"),
                         nn::onnx_export_error);

    nn::sequential flat;  // a recurrent layer after one that returns only its last output
    flat.emplace<nn::gru>("a", ro(1, 4, 1, false));
    flat.emplace<nn::gru>("b", ro(4, 4, 1, false));
    CHECK_THROWS_WITH_AS(nn::export_onnx(flat, p.string()), doctest::Contains("layer 'b' (gru) takes [batch, time"),
                         nn::onnx_export_error);

    nn::sequential mixed;
    mixed.emplace<nn::linear>("proj", 1, 4, true, nn::init_style::keras, 0, dtype::float64);
    mixed.emplace<nn::linear>("head", 4, 1);  // float32
    CHECK_THROWS_WITH_AS(nn::export_onnx(mixed, p.string()), doctest::Contains("layer 'head' (linear) is float32"),
                         nn::onnx_export_error);
    CHECK(unchanged());

    nn::gru g64(ro(1, 4, 1, false, dtype::float64));
    CHECK_THROWS_WITH_AS(nn::export_onnx(g64, p.string()), doctest::Contains("layer 'gru' (gru) is float64"),
                         nn::onnx_export_error);

    nn::linear ok(2, 2);  // the target is a folder: an I/O error naming it, the folder untouched
    CHECK_THROWS_WITH_AS(nn::export_onnx(ok, out_dir().string()), doctest::Contains("is a directory"),
                         nn::checkpoint_io_error);
    nn::export_onnx(ok, p.string());  // a good export replaces the file
    CHECK_FALSE(unchanged());
    CHECK(parse(p).graph().node_size() > 0);
}
