// write_dot: the tape as a Graphviz digraph (see dot.hpp for what is drawn and why).
#include "dot.hpp"
#include "contributions.hpp"
#include "dot_style.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <ostream>
#include <sstream>

#include <xtensor/xmath.hpp>

namespace xgrad {

using namespace detail;

namespace {

std::string num(double v) {  // short, locale-free
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

std::string sci(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2e", v);
    return buf;
}

struct summary {
    double min = 0, mean = 0, max = 0, max_abs = 0;
};

summary summarize(const tensor& t) {
    summary s;
    if (!t.defined() || t.size() == 0) return s;
    t.visit([&](const auto& a) {
        s.min = static_cast<double>(xt::amin(a)());
        s.max = static_cast<double>(xt::amax(a)());
        s.mean = static_cast<double>(xt::mean(a)());
        s.max_abs = static_cast<double>(xt::amax(xt::abs(a))());
    });
    return s;
}

// "[0.1, -0.2]" for tiny tensors, "min .. mean .. max" otherwise.
std::string values_line(const tensor& t) {
    if (t.size() <= 4) {
        std::string s = "[";
        for (std::size_t k = 0; k < t.size(); ++k) s += (k ? ", " : "") + num(t.flat(k));
        return s + "]";
    }
    const summary s = summarize(t);
    return "min " + num(s.min) + "  mean " + num(s.mean) + "  max " + num(s.max);
}

std::string quoted(const std::vector<std::string>& lines) {
    std::string s = "\"";
    for (std::size_t k = 0; k < lines.size(); ++k) s += (k ? "\\n" : "") + dot_escape(lines[k]);
    return s + "\"";
}

// What write_dot decides before writing: which nodes are drawn, as what, in which cluster.
class plan {
public:
    plan(const tape& t, const dot_options& o) : t_(t), o_(o) {
        n_ = t.size();
        root_ = o.root.defined() ? t.index_of(o.root) : static_cast<std::uint32_t>(n_ - 1);
        if (o.only_ancestors) n_ = root_ + 1;
        drawn_.assign(n_, !o.only_ancestors);
        if (o.only_ancestors) {
            drawn_[root_] = true;
            for (std::size_t i = n_; i-- > 0;)
                if (drawn_[i])
                    for (auto in : t.at(i).inputs) drawn_[in] = true;
        }
        // A scope is collapsed into its outermost ancestor that matches a prefix (parents come first).
        const std::size_t ns = t.scope_count();
        target_.assign(ns, 0);
        for (std::uint32_t s = 1; s < ns; ++s) {
            const auto parent = t.scope_at(s).parent;
            target_[s] = target_[parent] ? target_[parent] : (matches(s) ? s : 0);
        }
        norm_.assign(n_, -1.0);
        for (std::size_t i = 0; i < n_; ++i)
            if (drawn_[i] && t.grad(i).defined()) norm_[i] = l2_norm(t.grad(i));
        if (o.view == dot_view::backward) param_terms();
        // Items of each cluster, in tape order; a collapsed scope appears once, at its first node.
        items_.resize(ns);
        collapsed_norm_.assign(ns, -1.0);
        collapsed_count_.assign(ns, 0);
        for (std::size_t i = 0; i < n_; ++i) {
            if (!drawn_[i]) continue;
            const node& nd = t.at(i);
            if (nd.kind == node_kind::parameter) {
                items_[0].push_back(node_item(i));
            } else if (auto c = target_[nd.scope]) {
                if (collapsed_count_[c]++ == 0) items_[t.scope_at(c).parent].push_back(scope_item(c));
                collapsed_norm_[c] = std::max(collapsed_norm_[c], norm_[i]);
            } else {
                items_[nd.scope].push_back(node_item(i));
            }
        }
        // A cluster is written when it or a descendant has items (children have larger ids).
        used_.assign(ns, false);
        children_.resize(ns);
        for (std::size_t s = ns; s-- > 1;) {
            if (!items_[s].empty()) used_[s] = true;
            if (used_[s] && !target_[s]) children_[t.scope_at(s).parent].push_back(static_cast<std::uint32_t>(s));
            if (used_[s]) used_[t.scope_at(s).parent] = true;
        }
        for (auto& c : children_) std::reverse(c.begin(), c.end());
    }

    // Backward view: per edge from a parameter into an op (or a collapsed scope), the norm of the sum
    // of those uses' terms of ∂L/∂p (use_contribution_at: for W_hh into step t, δ_t·h_{t-1}ᵀ).
    void param_terms() {
        // use_contribution_at re-runs one backward rule and restores every state it sets aside: the
        // tape reads the same afterwards, as a const tape must.
        tape& tm = const_cast<tape&>(t_);
        std::map<std::pair<std::string, std::string>, tensor> sums;
        for (std::size_t j = 0; j < n_; ++j) {
            const node& nd = t_.at(j);
            if (!drawn_[j] || nd.kind != node_kind::op || !nd.backward || !nd.requires_grad || norm_[j] < 0) continue;
            for (std::size_t a = 0; a < nd.inputs.size(); ++a) {
                const auto i = nd.inputs[a];
                const node& in = t_.at(i);
                if (!drawn_[i] || in.kind != node_kind::parameter || !in.requires_grad) continue;
                if (std::find(nd.inputs.begin(), nd.inputs.begin() + static_cast<std::ptrdiff_t>(a), i) !=
                    nd.inputs.begin() + static_cast<std::ptrdiff_t>(a))
                    continue;  // read twice by one op: one term
                tensor term = use_contribution_at(tm, static_cast<std::uint32_t>(j), i);
                auto [it, fresh] = sums.emplace(std::make_pair(id_of(i), id_of(j)), tensor());
                if (fresh) {
                    it->second = std::move(term);
                } else {
                    it->second.visit([&](auto& acc) {
                        using T = typename std::decay_t<decltype(acc)>::value_type;
                        const T* b = term.data<T>();
                        for (std::size_t k = 0; k < acc.size(); ++k) acc.data()[k] += b[k];
                    });
                }
            }
        }
        for (const auto& [key, sum] : sums) param_term_[key] = l2_norm(sum);
    }

    void write(std::ostream& os) const {
        os << "digraph xgrad {\n";
        os << "  graph [rankdir=" << (o_.left_to_right ? "LR" : "TB")
           << ", newrank=true, compound=true, nodesep=0.25, ranksep=0.45, fontname=\"Helvetica\"";
        if (!o_.title.empty()) os << ", label=\"" << dot_escape(o_.title) << "\", labelloc=t, fontsize=18";
        os << "];\n";
        os << "  node [fontname=\"Helvetica\", fontsize=11, margin=\"0.12,0.05\"];\n";
        os << "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#4b5563\", arrowsize=0.7";
        if (o_.view == dot_view::backward) os << ", dir=back";
        os << "];\n";
        write_cluster(os, 0, 1);
        write_edges(os);
        write_layout_hints(os);
        if (o_.legend) detail::write_dot_legend(os, o_);
        os << "}\n";
    }

private:
    static std::int64_t node_item(std::size_t i) { return static_cast<std::int64_t>(i); }
    static std::int64_t scope_item(std::uint32_t s) { return -static_cast<std::int64_t>(s) - 1; }

    bool matches(std::uint32_t s) const {
        const std::string& name = t_.scope_at(s).name;
        const std::string path = t_.scope_path(s);
        for (const auto& p : o_.collapse)
            if (!p.empty() && (name.rfind(p, 0) == 0 || path.rfind(p, 0) == 0)) return true;
        return false;
    }

    // The DOT id a tape node is drawn as ("n7", or "s3" when its scope is collapsed).
    std::string id_of(std::size_t i) const {
        const node& nd = t_.at(i);
        std::string id(1, 'n');
        std::size_t k = i;
        if (nd.kind != node_kind::parameter && target_[nd.scope]) {
            id[0] = 's';
            k = target_[nd.scope];
        }
        return id += std::to_string(k);
    }

    std::string fill_for(double norm, const char* plain, std::string& extra) const {
        if (!o_.grad_colors) return plain;
        if (norm < 0) {
            extra += ", fontcolor=\"#6b7280\"";
            return "#ffffff";
        }
        const int b = grad_scale_bin(norm);
        if (b >= 6) extra += ", fontcolor=\"#ffffff\"";
        return grad_scale_colors()[static_cast<std::size_t>(b)];
    }

    void write_node(std::ostream& os, std::size_t i, const std::string& indent) const {
        const node& nd = t_.at(i);
        const tensor& v = t_.value(i);
        std::vector<std::string> lines;
        const std::string shape = v.defined() ? shape_str(v.shape()) + " " + dtype_name(v.dtype()) : "(no value)";
        switch (nd.kind) {
            case node_kind::op:
                lines.push_back(nd.op_name);
                if (!nd.name.empty()) lines.push_back(nd.name);
                break;
            case node_kind::parameter:
                lines.push_back(nd.name.empty() ? "parameter " + std::to_string(i) : nd.name);
                break;
            case node_kind::input: lines.push_back(nd.name.empty() ? "input" : nd.name); break;
            case node_kind::constant: lines.push_back(nd.name.empty() ? "constant" : nd.name); break;
        }
        lines.push_back(shape);
        const bool is_root = i == root_;
        if (v.defined()) {
            if (is_root && v.size() == 1)
                lines.push_back("loss = " + num(v.flat(0)));
            else if (o_.value_stats || (nd.kind == node_kind::constant && v.size() == 1))
                lines.push_back(values_line(v));
        }
        if (o_.grad_stats && norm_[i] >= 0)
            lines.push_back("|g| " + sci(norm_[i]) + "  max " + sci(summarize(t_.grad(i)).max_abs));
        std::string extra;
        const std::string fill = fill_for(norm_[i], is_root ? loss_fill : kind_fill[static_cast<int>(nd.kind)], extra);
        os << indent << "n" << i << " [label=" << quoted(lines) << ", " << (is_root ? loss_style : kind_style(nd.kind))
           << ", fillcolor=\"" << fill << "\"" << extra << "];\n";
    }

    void write_collapsed(std::ostream& os, std::uint32_t s, const std::string& indent) const {
        std::vector<std::string> lines{t_.scope_at(s).name,
                                       std::to_string(collapsed_count_[s]) + " nodes"};
        if (o_.grad_stats && collapsed_norm_[s] >= 0) lines.push_back("max |g| " + sci(collapsed_norm_[s]));
        std::string extra;
        const std::string fill = fill_for(collapsed_norm_[s], collapsed_fill, extra);
        os << indent << "s" << s << " [label=" << quoted(lines) << ", " << collapsed_style << ", fillcolor=\""
           << fill << "\"" << extra << "];\n";
    }

    void write_cluster(std::ostream& os, std::uint32_t s, int depth) const {
        const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
        if (s != 0) {
            static const char* const fills[] = {"#f8fafc", "#eef2ff", "#f0fdf4", "#fff7ed"};
            os << indent.substr(2) << "subgraph cluster_" << s << " {\n";
            os << indent << "graph [label=\"" << dot_escape(t_.scope_at(s).name)
               << "\", style=\"rounded,filled\", color=\"#94a3b8\", fillcolor=\"" << fills[(depth - 2) % 4]
               << "\", fontsize=13, labeljust=l];\n";
        }
        for (auto item : items_[s]) {
            if (item >= 0)
                write_node(os, static_cast<std::size_t>(item), indent);
            else
                write_collapsed(os, static_cast<std::uint32_t>(-item - 1), indent);
        }
        for (auto c : children_[s]) write_cluster(os, c, depth + 1);
        if (s != 0) os << indent.substr(2) << "}\n";
    }

    void write_edges(std::ostream& os) const {
        // One edge per (source, destination) pair, in tape order; in the backward view labelled with
        // the largest ‖∂L/∂y‖ among the ops the pair stands for.
        struct edge {
            std::string src, dst;
            double norm;
            bool from_parameter;
            bool src_has_grad;
        };
        std::vector<edge> edges;
        std::map<std::pair<std::string, std::string>, std::size_t> seen;
        for (std::size_t j = 0; j < n_; ++j) {
            if (!drawn_[j]) continue;
            const std::string dst = id_of(j);
            for (auto i : t_.at(j).inputs) {
                if (!drawn_[i]) continue;
                std::string src = id_of(i);
                if (src == dst) continue;
                auto [it, fresh] = seen.emplace(std::make_pair(src, dst), edges.size());
                const node& in = t_.at(i);
                const auto c = in.kind == node_kind::parameter ? 0 : target_[in.scope];
                const bool src_has_grad = (c ? collapsed_norm_[c] : norm_[i]) >= 0;
                if (fresh)
                    edges.push_back({std::move(src), dst, norm_[j], in.kind == node_kind::parameter, src_has_grad});
                else
                    edges[it->second].norm = std::max(edges[it->second].norm, norm_[j]);
            }
        }
        for (const auto& e : edges) {
            std::vector<std::string> attrs;
            const auto term = e.from_parameter ? param_term_.find({e.src, e.dst}) : param_term_.end();
            if (term != param_term_.end()) {
                // a parameter's use: its term of ∂L/∂p, as label and as width (by bin on the fixed scale)
                const int b = grad_scale_bin(term->second);
                attrs.push_back("label=\"" + sci(term->second) + "\"");
                if (o_.grad_colors)
                    attrs.push_back(std::string("color=\"") + grad_scale_colors()[static_cast<std::size_t>(b)] + "\"");
                attrs.push_back("penwidth=" + num(0.6 + 0.45 * b));
            } else if (o_.view == dot_view::backward && e.norm >= 0 && e.src_has_grad) {
                attrs.push_back("label=\"" + sci(e.norm) + "\"");
                if (o_.grad_colors)
                    attrs.push_back(std::string("color=\"") +
                                    grad_scale_colors()[static_cast<std::size_t>(grad_scale_bin(e.norm))] +
                                    "\", penwidth=2");
            } else if (o_.view == dot_view::backward) {
                attrs.push_back("style=dashed, color=\"#cbd5e1\"");  // no gradient flows here
            } else if (e.from_parameter) {
                attrs.push_back("color=\"#b4530999\"");  // shared weights: translucent, many edges
            }
            os << "  " << e.src << " -> " << e.dst;
            if (!attrs.empty()) {
                os << " [";
                for (std::size_t k = 0; k < attrs.size(); ++k) os << (k ? ", " : "") << attrs[k];
                os << "]";
            }
            os << ";\n";
        }
    }

    bool in_subtree(std::uint32_t scope, std::uint32_t ancestor) const {
        for (; scope != 0; scope = t_.scope_at(scope).parent)
            if (scope == ancestor) return true;
        return false;
    }

    // Layout only, nothing a DOT reader needs: parameters and top-level inputs in the first column,
    // and each cluster placed after its previous sibling (time flows left to right) by invisible
    // edges from the sibling's last node to this cluster's entry nodes. Those edges always point
    // forward in tape order, so they cannot make a cycle.
    void write_layout_hints(std::ostream& os) const {
        std::vector<std::size_t> sources;
        for (auto item : items_[0])
            if (item >= 0) {
                const auto k = t_.at(static_cast<std::size_t>(item)).kind;
                if (k == node_kind::parameter || k == node_kind::input) sources.push_back(static_cast<std::size_t>(item));
            }
        if (!sources.empty()) {
            os << "  { rank=min;";
            for (auto i : sources) os << " n" << i << ";";
            os << " }\n";
        }
        for (const auto& siblings : children_)
            for (std::size_t k = 1; k < siblings.size(); ++k) {
                const auto a = siblings[k - 1], b = siblings[k];
                std::int64_t last_a = -1, first_b = -1;
                for (std::size_t i = 0; i < n_; ++i) {
                    const node& nd = t_.at(i);
                    if (!drawn_[i] || nd.kind == node_kind::parameter) continue;
                    if (in_subtree(nd.scope, a)) last_a = static_cast<std::int64_t>(i);
                    if (first_b < 0 && in_subtree(nd.scope, b)) first_b = static_cast<std::int64_t>(i);
                }
                if (last_a < 0 || first_b < 0 || last_a > first_b) continue;
                std::vector<std::string> entries;
                for (std::size_t i = static_cast<std::size_t>(first_b); i < n_; ++i) {
                    const node& nd = t_.at(i);
                    if (!drawn_[i] || nd.kind == node_kind::parameter || !in_subtree(nd.scope, b)) continue;
                    bool entry = true;
                    for (auto in : nd.inputs)
                        if (drawn_[in] && t_.at(in).kind != node_kind::parameter && in_subtree(t_.at(in).scope, b))
                            entry = false;
                    std::string id = id_of(i);
                    if (entry && std::find(entries.begin(), entries.end(), id) == entries.end())
                        entries.push_back(std::move(id));
                }
                const std::string from = id_of(static_cast<std::size_t>(last_a));
                for (const auto& e : entries)
                    if (e != from) os << "  " << from << " -> " << e << " [style=invis];\n";
            }
    }


    const tape& t_;
    const dot_options& o_;
    std::size_t n_ = 0;
    std::uint32_t root_ = 0;
    std::vector<bool> drawn_;
    std::vector<std::uint32_t> target_;                // per scope: the collapsed scope it belongs to (0: none)
    std::vector<double> norm_;                         // per node: ‖grad‖, -1 when none
    std::map<std::pair<std::string, std::string>, double> param_term_;  // backward view: see param_terms()
    std::vector<std::vector<std::int64_t>> items_;     // per scope: nodes (>= 0) and collapsed scopes (< 0)
    std::vector<double> collapsed_norm_;
    std::vector<std::size_t> collapsed_count_;
    std::vector<bool> used_;
    std::vector<std::vector<std::uint32_t>> children_;
};

}  // namespace

double l2_norm(const tensor& t) {
    if (!t.defined()) return 0;
    return t.visit([](const auto& a) {
        double s = 0;
        for (auto x : a) s += static_cast<double>(x) * static_cast<double>(x);
        return std::sqrt(s);
    });
}

std::string dot_escape(const std::string& s) {
    std::string r;
    r.reserve(s.size());
    for (char c : s) {
        if (c == '"' || c == '\\') r += '\\';
        if (c == '\n') {
            r += "\\n";
            continue;
        }
        r += c;
    }
    return r;
}

void write_dot(const tape& t, std::ostream& os, const dot_options& opt) {
    if (t.size() == 0) {
        os << "digraph xgrad {\n}\n";
        return;
    }
    plan(t, opt).write(os);
}

std::string to_dot(const tape& t, const dot_options& opt) {
    std::ostringstream os;
    write_dot(t, os, opt);
    return os.str();
}

}  // namespace xgrad
