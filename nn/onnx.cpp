// ONNX export (nn/onnx.hpp): walks the module tree, emits one ONNX subgraph per layer, checks the model
// with onnx::checker and strict shape inference, then writes it atomically (nn/npz.hpp's writer).
#include "onnx.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <typeinfo>

#include "embedding.hpp"
#include "linear.hpp"
#include "models.hpp"
#include "npz.hpp"
#include "recurrent.hpp"
#include "sequential.hpp"

namespace xgrad::nn {

namespace {

constexpr int opset = 17;    // ONNX 1.12's newest; RNN/LSTM/GRU-14 (layout), Squeeze/Unsqueeze-13 (axes input)
constexpr int ir_version = 8;

using onnx::NodeProto;
using onnx::TensorProto;

// A value flowing between layers: its graph name and its dimensions; a dim < 0 is symbolic:
// batch (-1) or time (-2).
struct flow {
    std::string name;
    std::vector<std::int64_t> dims;
    int elem = TensorProto::FLOAT;
};
constexpr std::int64_t batch_dim = -1, time_dim = -2;

std::string dims_str(const std::vector<std::int64_t>& d) {
    std::string s = "[";
    for (std::size_t i = 0; i < d.size(); ++i)
        s += (i ? ", " : "") + (d[i] == batch_dim ? std::string("batch") : d[i] == time_dim ? "time" : std::to_string(d[i]));
    return s + "]";
}

int elem_of(dtype d) { return d == dtype::float64 ? TensorProto::DOUBLE : TensorProto::FLOAT; }
std::string elem_name(int e) {
    return e == TensorProto::DOUBLE ? "float64" : e == TensorProto::INT64 ? "int64" : "float32";
}

// Layers of a chain, each with its dotted path ("lstm", "0", "model.head").
struct layer_ref {
    std::string path;
    const module* m;
};

bool is_recurrent(const module& m) {
    return typeid(m) == typeid(rnn) || typeid(m) == typeid(lstm) || typeid(m) == typeid(gru);
}

[[noreturn]] void not_exportable(const std::string& path, const module& m, const std::string& why) {
    throw onnx_export_error("export_onnx: layer '" + (path.empty() ? std::string("(the model)") : path) + "' (" +
                            m.type_name() + ") " + why + "; nothing was written");
}

std::string join(const std::string& prefix, const std::string& name) { return prefix.empty() ? name : prefix + "." + name; }

// The chain of leaf layers the model applies in order. sequence_regressor (cell -> head) and char_model
// (embed -> cell -> head) apply their children in registration order.
void flatten(const module& m, const std::string& path, std::vector<layer_ref>& out) {
    if (typeid(m) == typeid(linear) || typeid(m) == typeid(embedding) || is_recurrent(m)) {
        out.push_back({path, &m});
        return;
    }
    const auto kids = m.children();
    if (typeid(m) == typeid(sequence_regressor) || typeid(m) == typeid(char_model)) {
        for (const auto& [name, child] : kids) flatten(*child, join(path, name), out);
        return;
    }
    if (const auto* s = dynamic_cast<const sequential*>(&m); s && typeid(m) == typeid(sequential)) {
        // emplace() registers the module and appends its step under the same name, in the same order;
        // a step with no module of its name at that position is a plain function (add()).
        std::size_t k = 0;
        for (std::size_t i = 0; i < s->size(); ++i) {
            const std::string& step = s->step_name(i);
            if (k < kids.size() && kids[k].first == step) {
                flatten(*kids[k].second, join(path, step), out);
                ++k;
            } else {
                throw onnx_export_error("export_onnx: step " + std::to_string(i) + " '" + join(path, step) +
                                        "' of the sequential is a plain function (sequential::add), which ONNX "
                                        "export cannot see into; only module steps (emplace) of the supported "
                                        "layers export (docs/onnx.md); nothing was written");
            }
        }
        return;
    }
    not_exportable(path, m,
                   "is not exportable: export_onnx supports linear, embedding, rnn, lstm, gru, sequential, "
                   "sequence_regressor and char_model (exactly those types, not subclasses; docs/onnx.md)");
}

class builder {
public:
    builder(onnx::GraphProto& g, const onnx_options& o) : g_(g), o_(o) {}

    // The parameter as an initializer of its own name and value.
    std::string param(const parameter& p) { return constant(p.name(), p.value()); }

    // An initializer of that name and value (float32 or float64).
    std::string constant(const std::string& name, const tensor& v) {
        TensorProto* t = g_.add_initializer();
        t->set_name(name);
        t->set_data_type(elem_of(v.dtype()));
        for (auto d : v.shape()) t->add_dims(static_cast<std::int64_t>(d));
        const std::size_t bytes = v.size() * (v.dtype() == dtype::float64 ? 8 : 4);
        std::string raw(bytes, '\0');  // row-major, little-endian (x86-64)
        if (bytes) {
            if (v.dtype() == dtype::float64)
                std::memcpy(raw.data(), v.data<double>(), bytes);
            else
                std::memcpy(raw.data(), v.data<float>(), bytes);
        }
        t->set_raw_data(raw);
        return name;
    }

    std::string ints(const std::string& name, const std::vector<std::int64_t>& values) {
        TensorProto* t = g_.add_initializer();
        t->set_name(name);
        t->set_data_type(TensorProto::INT64);
        t->add_dims(static_cast<std::int64_t>(values.size()));
        for (auto v : values) t->add_int64_data(v);
        return name;
    }

    NodeProto& node(const std::string& op, const std::string& name, const std::vector<std::string>& in,
                    const std::vector<std::string>& out) {
        NodeProto* n = g_.add_node();
        n->set_op_type(op);
        n->set_name(name);
        for (const auto& s : in) n->add_input(s);
        std::size_t used = out.size();  // trailing optional outputs left unnamed are dropped
        while (used > 0 && out[used - 1].empty()) --used;
        for (std::size_t i = 0; i < used; ++i) n->add_output(out[i]);
        return *n;
    }
    // A node with one output, named after the node.
    std::string op1(const std::string& op, const std::string& name, const std::vector<std::string>& in) {
        node(op, name, in, {name});
        return name;
    }
    static void attr(NodeProto& n, const std::string& name, std::int64_t v) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(v);
    }
    static void attr(NodeProto& n, const std::string& name, const std::vector<std::int64_t>& v) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INTS);
        for (auto x : v) a->add_ints(x);
    }
    static void attr(NodeProto& n, const std::string& name, const std::string& v) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::STRING);
        a->set_s(v);
    }
    static void attr(NodeProto& n, const std::string& name, const std::vector<std::string>& v) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::STRINGS);
        for (const auto& x : v) a->add_strings(x);
    }
    std::string transpose(const std::string& name, const std::string& x, const std::vector<std::int64_t>& perm) {
        attr(node("Transpose", name, {x}, {name}), "perm", perm);
        return name;
    }
    std::string axes(std::int64_t a) {  // one shared int64 [1] initializer per axis
        const std::string name = "xgrad_onnx/axis" + std::to_string(a);
        if (made_axes_.insert(a)) ints(name, {a});
        return name;
    }

    flow linear_layer(const std::string& path, const linear& m, flow x) {
        check_features(path, m, x, m.in_features());
        check_dtype(path, m, x, m.weight().value().dtype());
        const std::string w = param(m.weight());
        const bool bias = m.bias().defined();
        flow y{path + "/y", x.dims, x.elem};
        y.dims.back() = static_cast<std::int64_t>(m.out_features());
        if (x.dims.size() == 2) {  // Gemm: x·Wᵀ + b
            std::vector<std::string> in{x.name, w};
            if (bias) in.push_back(param(m.bias()));
            attr(node("Gemm", path + "/Gemm", in, {y.name}), "transB", std::int64_t{1});
            return y;
        }
        const std::string wt = transpose(path + "/weight_t", w, {1, 0});
        if (!bias) {
            node("MatMul", path + "/MatMul", {x.name, wt}, {y.name});
            return y;
        }
        const std::string xw = op1("MatMul", path + "/MatMul", {x.name, wt});
        node("Add", path + "/Add", {xw, param(m.bias())}, {y.name});
        return y;
    }

    flow embedding_layer(const std::string& path, const embedding& m, flow x) {
        if (x.elem != TensorProto::INT64)
            not_exportable(path, m, "takes indices, but follows a layer that gives " + elem_name(x.elem) +
                                        " features: an embedding exports only as the first layer");
        flow y{path + "/y", x.dims, elem_of(m.weight().value().dtype())};
        y.dims.push_back(static_cast<std::int64_t>(m.dim()));
        node("Gather", path + "/Gather", {param(m.weight()), x.name}, {y.name});
        return y;
    }

    flow recurrent_layer(const std::string& path, const recurrent_base& m, flow x) {
        const auto& o = m.options();
        if (x.dims.size() != 3 || x.dims[0] != batch_dim || x.dims[1] != time_dim)
            not_exportable(path, m, "takes [batch, time, features] but the layer before gives " + dims_str(x.dims) +
                                        " (a recurrent layer after one with return_sequences = false?)");
        check_features(path, m, x, o.input_size);
        check_dtype(path, m, x, m.layer(0).w_ih.value().dtype());
        if (m.layer(0).w_ih.value().dtype() != dtype::float32)
            not_exportable(path, m, "is float64, and onnxruntime's RNN, LSTM and GRU kernels run float32 only: "
                                    "export a float32 copy (module::cast(dtype::float32))");
        const bool is_lstm = typeid(m) == typeid(lstm), is_gru = typeid(m) == typeid(gru);
        std::string op = is_lstm ? "LSTM" : is_gru ? "GRU" : "RNN";
        std::vector<std::string> acts;
        if (!is_lstm && !is_gru) {
            if (o.activation == "tanh") acts = {"Tanh"};
            else if (o.activation == "relu") acts = {"Relu"};
            else if (o.activation == "sigmoid") acts = {"Sigmoid"};
            else
                not_exportable(path, m, "uses activation '" + o.activation +
                                            "', which ONNX's RNN node does not compute the same way; exportable "
                                            "rnn activations: tanh, relu, sigmoid");
        }
        const auto H = static_cast<std::int64_t>(o.hidden_size);
        // ONNX block k of the gates is xgrad's (PyTorch's) block order[k]:
        // LSTM ONNX i,o,f,c <- PyTorch i,f,g,o; GRU ONNX z,r,h <- PyTorch r,z,n.
        std::vector<std::int64_t> order;
        if (is_lstm) order = {0, 3, 1, 2};
        if (is_gru) order = {1, 0, 2};
        if (o_.wrong_gate_order_for_testing) order.clear();
        std::string rows;
        if (!order.empty()) {
            std::vector<std::int64_t> idx;
            for (auto b : order)
                for (std::int64_t j = 0; j < H; ++j) idx.push_back(b * H + j);
            rows = ints(path + "/xgrad_onnx/gate_rows", idx);
        }
        // W, R: [1, G·H, in]; B: [1, 2·G·H] = b_ih then b_hh, both in ONNX's gate order (Keras's single
        // bias b: B = [b, 0], the same sum).
        auto onnx_form = [&](const std::string& name, const parameter& p) {
            std::string v = param(p);
            if (!rows.empty()) v = op1("Gather", path + "/" + name + "_onnx_gates", {v, rows});
            return v;
        };
        std::string seq = transpose(path + "/time_major", x.name, {1, 0, 2});  // [time, batch, in]
        std::string last_h;
        const std::size_t D = m.directions();
        for (std::size_t l = 0; l < o.num_layers; ++l) {
            const std::string lpath = path + "/l" + std::to_string(l);
            // W, R: [D, G·H, in]; B: [D, 2·G·H] = b_ih then b_hh, both in ONNX's gate order; direction 0
            // forward, 1 reverse (ONNX's "bidirectional" order, as PyTorch's).
            std::vector<std::string> Ws, Rs, Bs;
            for (std::size_t d = 0; d < D; ++d) {
                const auto& lp = m.layer(l, d == 1);
                const std::string sfx = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
                const std::string dpath = lpath + (d == 1 ? "/reverse" : "");
                Ws.push_back(op1("Unsqueeze", dpath + "/W", {onnx_form("w_ih" + sfx, lp.w_ih), axes(0)}));
                Rs.push_back(op1("Unsqueeze", dpath + "/R", {onnx_form("w_hh" + sfx, lp.w_hh), axes(0)}));
                if (lp.b_ih.defined() || lp.b.defined()) {  // Keras's single bias b: B = [b, 0]
                    const bool single = lp.b.defined();
                    const std::string bi = onnx_form("b_ih" + sfx, single ? lp.b : lp.b_ih);
                    const std::string bh = single ? constant(dpath + "/b_hh_zero", tensor::zeros(lp.b.shape(), lp.b.dtype()))
                                                  : onnx_form("b_hh" + sfx, lp.b_hh);
                    const std::string b = dpath + "/b_ih_b_hh";
                    attr(node("Concat", b, {bi, bh}, {b}), "axis", std::int64_t{0});
                    Bs.push_back(op1("Unsqueeze", dpath + "/B", {b, axes(0)}));
                }
            }
            auto both = [&](const std::string& name, const std::vector<std::string>& parts) {
                if (parts.size() == 1) return parts[0];
                attr(node("Concat", lpath + "/" + name, parts, {lpath + "/" + name}), "axis", std::int64_t{0});
                return lpath + "/" + name;
            };
            std::vector<std::string> in{seq, both("W_both", Ws), both("R_both", Rs)};
            if (!Bs.empty()) in.push_back(both("B_both", Bs));
            const bool top = l + 1 == o.num_layers;
            const bool need_y = !top || o.return_sequences;
            const std::string Y = need_y ? lpath + "/Y" : "", Yh = top ? lpath + "/Y_h" : "";
            NodeProto& n = node(op, lpath + "/" + op, in, {Y, Yh});
            attr(n, "hidden_size", H);
            attr(n, "layout", std::int64_t{0});  // onnxruntime refuses layout = 1 (batch first)
            if (D == 2) attr(n, "direction", std::string("bidirectional"));
            if (is_gru) attr(n, "linear_before_reset", std::int64_t{1});  // PyTorch's r ⊙ (h·W_hnᵀ + b_hn)
            if (!acts.empty()) {
                std::vector<std::string> per_direction;  // ONNX: one activation list per direction
                for (std::size_t d = 0; d < D; ++d) per_direction.insert(per_direction.end(), acts.begin(), acts.end());
                attr(n, "activations", per_direction);
            }
            if (need_y) {
                if (D == 1) {
                    seq = op1("Squeeze", lpath + "/Y_seq", {Y, axes(1)});  // [time, 1, batch, H] -> [time, batch, H]
                } else {  // [time, 2, batch, H] -> [time, batch, 2, H] -> [time, batch, 2H] = [fwd | bwd]
                    const std::string yt = transpose(lpath + "/Y_dirs_last", Y, {0, 2, 1, 3});
                    seq = op1("Reshape", lpath + "/Y_seq", {yt, ints(lpath + "/Y_seq_shape", {0, 0, 2 * H})});
                }
            }
            last_h = Yh;
        }
        flow y{"", {batch_dim}, x.elem};
        const std::int64_t F = static_cast<std::int64_t>(D) * H;
        if (o.return_sequences) {
            y.name = transpose(path + "/y", seq, {1, 0, 2});
            y.dims = {batch_dim, time_dim, F};
        } else if (D == 1) {
            y.name = op1("Squeeze", path + "/y", {last_h, axes(0)});  // [1, batch, H] -> [batch, H]
            y.dims = {batch_dim, H};
        } else {  // Y_h [2, batch, H] -> [batch, 2, H] -> [batch, 2H] = [h_n fwd | h_n reverse]
            const std::string ht = transpose(path + "/Y_h_dirs_last", last_h, {1, 0, 2});
            y.name = op1("Reshape", path + "/y", {ht, ints(path + "/y_shape", {0, 2 * H})});
            y.dims = {batch_dim, F};
        }
        return y;
    }

private:
    void check_features(const std::string& path, const module& m, const flow& x, std::size_t want) {
        if (x.dims.empty() || x.dims.back() != static_cast<std::int64_t>(want))
            not_exportable(path, m, "expects " + std::to_string(want) + " input features but receives " +
                                        dims_str(x.dims) + " from the layer before");
    }
    void check_dtype(const std::string& path, const module& m, const flow& x, dtype d) {
        if (x.elem != TensorProto::INT64 && x.elem != elem_of(d))
            not_exportable(path, m, "is " + std::string(dtype_name(d)) + " but receives " + elem_name(x.elem) +
                                        ": cast the model to one dtype first (module::cast)");
    }

    struct int_set {
        std::vector<std::int64_t> v;
        bool insert(std::int64_t a) {
            for (auto x : v)
                if (x == a) return false;
            v.push_back(a);
            return true;
        }
    };
    onnx::GraphProto& g_;
    const onnx_options& o_;
    int_set made_axes_;
};

void set_type(onnx::ValueInfoProto& v, const flow& f) {
    v.set_name(f.name);
    auto* t = v.mutable_type()->mutable_tensor_type();
    t->set_elem_type(f.elem);
    for (auto d : f.dims) {
        auto* dim = t->mutable_shape()->add_dim();
        if (d == batch_dim)
            dim->set_dim_param("batch");
        else if (d == time_dim)
            dim->set_dim_param("time");
        else
            dim->set_dim_value(d);
    }
}

onnx_value_info info_of(const flow& f) {
    onnx_value_info i{f.name, elem_name(f.elem), {}};
    for (auto d : f.dims) i.dims.push_back(d == batch_dim ? "batch" : d == time_dim ? "time" : std::to_string(d));
    return i;
}

}  // namespace

onnx_export_info export_onnx(const module& model, const std::string& path, const onnx_options& options) {
    std::vector<layer_ref> layers;
    flatten(model, "", layers);
    if (layers.empty()) throw onnx_export_error("export_onnx: the model has no layers to export; nothing was written");

    // The model's input, from its first layer and whether a recurrent layer follows.
    bool any_recurrent = false;
    for (const auto& l : layers) any_recurrent = any_recurrent || is_recurrent(*l.m);
    const module& first = *layers.front().m;
    flow x;
    if (const auto* e = dynamic_cast<const embedding*>(&first)) {
        (void)e;
        x = {"ids", {batch_dim, time_dim}, TensorProto::INT64};
    } else if (const auto* lin = dynamic_cast<const linear*>(&first)) {
        x = {"x", {batch_dim}, elem_of(lin->weight().value().dtype())};
        if (any_recurrent) x.dims.push_back(time_dim);
        x.dims.push_back(static_cast<std::int64_t>(lin->in_features()));
    } else {
        const auto& r = dynamic_cast<const recurrent_base&>(first);
        x = {"x", {batch_dim, time_dim, static_cast<std::int64_t>(r.options().input_size)},
             elem_of(r.layer(0).w_ih.value().dtype())};
    }

    onnx::ModelProto mp;
    mp.set_ir_version(ir_version);
    mp.set_producer_name(options.producer);
    auto* imp = mp.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    onnx::GraphProto& g = *mp.mutable_graph();
    g.set_name(options.graph_name.empty() ? model.type_name() : options.graph_name);
    set_type(*g.add_input(), x);

    builder b(g, options);
    const flow input = x;
    for (const auto& l : layers) {
        const std::string p = l.path.empty() ? l.m->type_name() : l.path;
        if (const auto* lin = dynamic_cast<const linear*>(l.m))
            x = b.linear_layer(p, *lin, x);
        else if (const auto* e = dynamic_cast<const embedding*>(l.m))
            x = b.embedding_layer(p, *e, x);
        else
            x = b.recurrent_layer(p, dynamic_cast<const recurrent_base&>(*l.m), x);
    }
    b.op1("Identity", "y", {x.name});
    x.name = "y";
    set_type(*g.add_output(), x);

    try {
        onnx::checker::check_model(mp);
        onnx::ModelProto inferred = mp;
        onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                           onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict=*/1));
    } catch (const std::exception& e) {
        throw onnx_export_error(std::string("export_onnx: the ONNX checker refused the exported graph (an exporter "
                                            "bug; please report it): ") +
                                e.what() + "; nothing was written");
    }
    std::string bytes;
    if (!mp.SerializeToString(&bytes))
        throw onnx_export_error("export_onnx: protobuf could not serialise the model (over 2 GiB?); nothing was written");
    detail::write_file_atomically(path, "model file", bytes);
    return {info_of(input), info_of(x), static_cast<std::size_t>(g.node_size()),
            static_cast<std::size_t>(g.initializer_size())};
}

}  // namespace xgrad::nn
