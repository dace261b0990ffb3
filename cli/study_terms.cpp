// `xgrad study`'s per-step terms of ∂L/∂W_hh and ∂L/∂W_ih (see study_terms.hpp).
#include "study_terms.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <unistd.h>

#include <xgrad/graph/process.hpp>

#include "output.hpp"

namespace xgrad::cli {

namespace {

void write_file(const std::filesystem::path& p, const std::string& text) { write_text_file(p.string(), text, "study"); }

struct model_terms {
    std::string cell, activation, label;
    std::size_t steps = 0;
    std::uint64_t seed = 0;
    std::vector<double> hh, ih;  // ‖term‖ of weight_hh_l0 and weight_ih_l0, t = 0 .. T-1
};

parameter named(const nn::module& m, const std::string& name) {
    for (const auto& [n, p] : m.named_parameters())
        if (n == name) return p;
    throw error("study: the model has no parameter '" + name + "'");
}

std::vector<double> norms(const std::vector<tensor>& terms) {
    std::vector<double> out;
    for (const auto& t : terms) out.push_back(l2_norm(t));
    return out;
}

std::string gp_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
    return q + "'";
}

}  // namespace

std::string write_study_terms(const study_options& o, const std::filesystem::path& dir) {
    std::vector<std::pair<std::string, std::string>> kinds;
    for (const auto& a : o.activations) kinds.push_back({"rnn", a});
    for (const auto& c : o.cells) kinds.push_back({c, "-"});
    std::vector<model_terms> runs;
    for (const auto& [cell, act] : kinds)
        for (const std::size_t T : o.lengths) {
            // the batch of gradnorms.csv, in float64 so that the smallest terms keep their digits
            const nn::dataset probe = nn::sum_task(o.grad_batch, T, 987654321, dtype::float64);
            for (const std::uint64_t seed : o.seeds) {
                nn::sequence_regressor_options mo;
                mo.cell = cell;
                if (cell == "rnn") mo.activation = act;
                mo.hidden = o.hidden;
                mo.seed = seed;
                mo.dt = dtype::float64;
                mo.biases = o.biases;
                nn::sequence_regressor model(mo);
                tape t;
                var loss = mse(model(input(probe.x)), input(probe.y));
                t.backward(loss);
                model_terms r{cell, act, cell == "rnn" ? "rnn/" + act : cell, T, seed, {}, {}};
                r.hh = norms(nn::step_terms(t, named(model, cell + ".weight_hh_l0"), T));
                r.ih = norms(nn::step_terms(t, named(model, cell + ".weight_ih_l0"), T));
                runs.push_back(std::move(r));
            }
        }

    std::ostringstream csv;
    csv << std::setprecision(9) << "cell,activation,T,seed,weight,t,norm\n";
    for (const auto& r : runs)
        for (const auto* w : {&r.hh, &r.ih})
            for (std::size_t t = 0; t < r.steps; ++t)
                csv << r.cell << "," << r.activation << "," << r.steps << "," << r.seed << ","
                    << (w == &r.hh ? "weight_hh" : "weight_ih") << "," << t + 1 << "," << (*w)[t] << "\n";
    write_file(dir / "terms.csv", csv.str());

    std::ostringstream plots;
    for (const std::size_t T : o.lengths) {
        std::vector<std::string> labels;
        for (const auto& r : runs)
            if (r.steps == T && std::find(labels.begin(), labels.end(), r.label) == labels.end()) labels.push_back(r.label);
        std::ostringstream dat;
        dat << std::setprecision(9) << "# t, then per model the mean over seeds of ‖δ_t h_{t-1}ᵀ‖ (weight_hh) and "
                                       "‖δ_t x_tᵀ‖ (weight_ih); nan: exactly 0 (h_0 = 0)\n";
        for (std::size_t t = 0; t < T; ++t) {
            dat << t + 1;
            for (const auto& label : labels)
                for (bool hh : {true, false}) {
                    double s = 0;
                    std::size_t n = 0;
                    for (const auto& r : runs)
                        if (r.steps == T && r.label == label) s += (hh ? r.hh : r.ih)[t], ++n;
                    const double m = s / double(n);
                    dat << " " << (m > 0 ? m : std::nan(""));
                }
            dat << "\n";
        }
        const std::string name = "terms_T" + std::to_string(T);
        write_file(dir / (name + ".dat"), dat.str());
        plots << "set output '" << name << ".' . ext\n"
              << "set title 'Each step''s term of ∂L/∂W at init, T = " << T << ", mean over " << o.seeds.size()
              << " seeds (solid: ‖δ_t h_{t-1}ᵀ‖ of W_{hh}, dashed: ‖δ_t x_tᵀ‖ of W_{ih})'\n"
              << "set xlabel 't (time step)'\nset ylabel 'Frobenius norm (log)'\nplot ";
        for (std::size_t i = 0; i < labels.size(); ++i)
            plots << (i ? ", \\\n     " : "") << "'" << name << ".dat' using 1:" << 2 * i + 2 << " with lines ls "
                  << i + 1 << " title " << gp_quote(labels[i] + " W_{hh}") << ", \\\n     '" << name
                  << ".dat' using 1:" << 2 * i + 3 << " with lines ls " << i + 1 << " dt 2 title "
                  << gp_quote(labels[i] + " W_{ih}");
        plots << "\n";
    }
    std::ostringstream gp;
    gp << "# Written by `xgrad study`; run in this folder: gnuplot terms.gp\n"
          "set encoding utf8\nset logscale y\nset format y '%.0e'\nset grid\nset key outside right top\n"
          "set datafile missing 'nan'\n";
    const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
    for (int i = 0; i < 8; ++i) gp << "set style line " << i + 1 << " lc rgb '" << colors[i] << "' lw 2\n";
    gp << "ext = 'svg'\nset terminal svg size 860,420 dynamic font 'Helvetica,12' background rgb 'white'\n"
       << plots.str() << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
       << "  ext = 'png'\n  set terminal pngcairo size 860,420 font 'Helvetica,10'\n";
    std::istringstream in(plots.str());
    for (std::string line; std::getline(in, line);) gp << "  " << line << "\n";
    gp << "}\nset output\n";
    write_file(dir / "terms.gp", gp.str());

    std::string line = "study: wrote " + (dir / "terms.csv").string() + " (each step's term of dL/dW_hh and dL/dW_ih at init)";
    const auto gnuplot = find_program("gnuplot");
    if (gnuplot.empty()) return line + "; plot with: cd " + dir.string() + " && gnuplot terms.gp";
    if (run_program(gnuplot, {"terms.gp"}, {.cwd = dir, .output = "gnuplot_terms.log"}) != 0)
        throw error("study: gnuplot failed on " + (dir / "terms.gp").string() + "; see " +
                    (dir / "gnuplot_terms.log").string());
    std::string made;
    for (const std::size_t T : o.lengths) made += (made.empty() ? "" : ", ") + ("terms_T" + std::to_string(T) + ".svg");
    return line + "; plotted " + made;
}

}  // namespace xgrad::cli
