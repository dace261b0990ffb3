// `xgrad study`'s engine (see study_core.hpp).
#include "study_core.hpp"

#include "output.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include <xgrad/graph/process.hpp>

namespace xgrad::cli {

namespace {

using clock_type = std::chrono::steady_clock;

double mean(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? std::nan("") : s / double(v.size());
}

double sd(const std::vector<double>& v) {  // sample standard deviation; 0 for one value
    if (v.size() < 2) return 0;
    const double m = mean(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / double(v.size() - 1));
}

std::string fmt(const char* f, double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, x);
    return buf;
}

// A (label, T) group of runs, in first-seen order.
struct group {
    std::string cell, activation, label;
    std::size_t steps = 0;
    std::vector<const study_run*> runs;
};

std::vector<group> groups_of(const study_result& r) {
    std::vector<group> out;
    for (const auto& run : r.runs) {
        const std::string label = study_label(run);
        auto it = std::find_if(out.begin(), out.end(),
                               [&](const group& g) { return g.label == label && g.steps == run.steps; });
        if (it == out.end()) {
            out.push_back({run.cell, run.activation, label, run.steps, {}});
            it = out.end() - 1;
        }
        it->runs.push_back(&run);
    }
    return out;
}

// Element-wise mean over the group's runs of one per-step (or per-epoch) vector.
std::vector<double> mean_curve(const group& g, std::vector<double> study_run::*member) {
    std::size_t n = 0;
    for (const auto* r : g.runs) n = std::max(n, (r->*member).size());
    std::vector<double> m(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<double> v;
        for (const auto* r : g.runs)
            if (i < (r->*member).size()) v.push_back((r->*member)[i]);
        m[i] = mean(v);
    }
    return m;
}

double ratio_first_last(const std::vector<double>& norms) {
    if (norms.empty() || !(norms.back() > 0)) return std::nan("");
    return norms.front() / norms.back();
}

// A file's text is gathered here, then written checked and atomically by close_out (cli/output.hpp).
std::ostringstream open_out(const std::filesystem::path&) {
    std::ostringstream f;
    f << std::setprecision(9);
    return f;
}

void close_out(std::ostringstream& f, const std::filesystem::path& p) { write_text_file(p.string(), f.str(), "study"); }

std::string file_label(const std::string& label) {
    std::string s = label;
    std::replace(s.begin(), s.end(), '/', '_');
    return s;
}

// Pads to a width in characters (UTF-8 aware, for ±, → and ‖): left- or right-aligned.
std::string pad(const std::string& s, std::size_t width, bool left) {
    std::size_t chars = 0;
    for (unsigned char c : s) chars += (c & 0xC0) != 0x80;
    const std::string fill(chars < width ? width - chars : 0, ' ');
    return left ? s + fill : fill + s;
}

std::string gp_quote(const std::string& s) {  // gnuplot single-quoted string ('' is a quote)
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
    return q + "'";
}

}  // namespace

std::string study_label(const study_run& r) { return r.cell == "rnn" ? "rnn/" + r.activation : r.cell; }

void check_study_options(const study_options& o) {
    if (o.activations.empty() && o.cells.empty())
        throw argument_error("study: --activations is empty; give at least one of sigmoid, tanh, relu, ... "
                             "(or cells with --cells lstm,gru)");
    for (const auto& a : o.activations) check_activation(a, "study: --activations");
    for (const auto& c : o.cells)
        if (c != "lstm" && c != "gru")
            throw argument_error("study: unknown cell '" + c + "' in --cells (use lstm and/or gru; rnn cells come "
                                 "from --activations)");
    if (o.lengths.empty()) throw argument_error("study: --lengths is empty; give sequence lengths, e.g. 10,50");
    for (auto t : o.lengths)
        if (t == 0) throw argument_error("study: --lengths has 0; sequence lengths must be at least 1");
    if (o.seeds.empty()) throw argument_error("study: --seeds is empty; give a count (3) or a list (0,1,2)");
    if (o.epochs == 0) throw argument_error("study: --epochs must be at least 1");
    if (o.samples == 0) throw argument_error("study: --samples must be at least 1");
    if (o.hidden == 0) throw argument_error("study: --hidden must be at least 1");
    if (!(o.target > 0) || !std::isfinite(o.target))
        throw argument_error("study: --target must be a positive test loss, got " + std::to_string(o.target));
}

std::vector<std::uint64_t> parse_seeds(const std::string& text) {
    auto number = [&](const std::string& s) -> std::uint64_t {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 18)
            throw argument_error("study: --seeds '" + text + "': '" + s +
                                 "' is not a whole number; give a count (3), a list (0,4,7) or a range (5..8)");
        return std::stoull(s);
    };
    if (text.empty()) throw argument_error("study: --seeds is empty; give a count (3), a list (0,4,7) or a range (5..8)");
    std::vector<std::uint64_t> out;
    if (const auto dots = text.find(".."); dots != std::string::npos) {
        const auto a = number(text.substr(0, dots)), b = number(text.substr(dots + 2));
        if (b < a || b - a >= 10000)
            throw argument_error("study: --seeds range '" + text + "' must go up and hold at most 10000 seeds");
        for (auto s = a; s <= b; ++s) out.push_back(s);
        return out;
    }
    if (text.find(',') == std::string::npos) {
        const auto n = number(text);
        if (n == 0 || n > 10000) throw argument_error("study: --seeds count must be 1..10000, got " + text);
        for (std::uint64_t s = 0; s < n; ++s) out.push_back(s);
        return out;
    }
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) out.push_back(number(item));
    if (text.back() == ',') throw argument_error("study: --seeds '" + text + "' ends in a comma");
    return out;
}

study_result run_study(const study_options& o, std::ostream* progress, bool tty) {
    check_study_options(o);
    study_result result;
    result.options = o;
    struct model_kind {
        std::string cell, activation;
    };
    std::vector<model_kind> kinds;
    for (const auto& a : o.activations) kinds.push_back({"rnn", a});
    for (const auto& c : o.cells) kinds.push_back({c, "-"});
    const std::size_t total = kinds.size() * o.lengths.size() * o.seeds.size();
    const std::size_t test_n = std::max<std::size_t>(16, o.samples / 10);
    const auto start = clock_type::now();
    std::size_t index = 0;
    for (const auto& k : kinds)
        for (const std::size_t T : o.lengths) {
            // One fixed batch per length, the same for every model and seed.
            const nn::dataset probe = nn::sum_task(o.grad_batch, T, 987654321);
            for (const std::uint64_t seed : o.seeds) {
                ++index;
                const auto t0 = clock_type::now();
                study_run run{.cell = k.cell, .activation = k.activation, .steps = T, .seed = seed};
                const auto train = nn::sum_task(o.samples, T, seed);
                const auto test = nn::sum_task(test_n, T, seed + 1000003);
                nn::sequence_regressor_options mo;
                mo.cell = k.cell;
                if (k.cell == "rnn") mo.activation = k.activation;
                mo.hidden = o.hidden;
                mo.seed = seed;
                mo.biases = o.biases;
                nn::sequence_regressor model(mo);
                run.grad_init = nn::step_grad_norms(model, probe);
                std::ostringstream head;
                head << "[" << std::setw(std::to_string(total).size()) << index << "/" << total << "] " << std::left
                     << std::setw(12) << study_label(run) << std::right << " T=" << std::setw(3) << T << " seed "
                     << seed;
                nn::fit_callbacks cb;
                cb.on_epoch = [&](const nn::epoch_metrics& m) {
                    run.test_curve.push_back(m.test_loss);
                    if (run.epochs_to_target == 0 && m.test_loss <= o.target) run.epochs_to_target = m.epoch;
                    if (progress && tty)
                        *progress << "\r" << head.str() << "  epoch " << m.epoch << "/" << m.epochs << "  test "
                                  << fmt("%.4f", m.test_loss) << std::flush;
                };
                nn::fit(model, train, test, {.epochs = o.epochs, .batch_size = o.batch_size, .lr = o.lr, .seed = seed}, cb);
                run.train_loss = nn::evaluate(model, train);
                run.test_loss = run.test_curve.back();
                run.grad_trained = nn::step_grad_norms(model, probe);
                run.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
                if (progress) {
                    if (tty) *progress << "\r\033[K";
                    *progress << head.str() << "  train " << fmt("%.4f", run.train_loss) << "  test "
                              << fmt("%.4f", run.test_loss) << "  target "
                              << (run.epochs_to_target ? "@" + std::to_string(run.epochs_to_target) : std::string("-"))
                              << "  " << fmt("%.1f", run.seconds) << "s\n"
                              << std::flush;
                }
                result.runs.push_back(std::move(run));
            }
        }
    result.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    return result;
}

std::string summary_table(const study_result& r) {
    std::ostringstream os;
    const auto& o = r.options;
    os << "Summary: mean ± sd over " << o.seeds.size() << " seed" << (o.seeds.size() == 1 ? "" : "s") << ", "
       << o.epochs << (o.epochs == 1 ? " epoch, " : " epochs, ") << o.samples << " samples, hidden " << o.hidden << "; target = test loss <= "
       << o.target << "\n"
       << "grad ratio = ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ on a fixed batch (mean norms over seeds)\n\n";
    os << pad("model", 12, true) << pad("T", 5, false) << pad("train loss", 22, false) << pad("test loss", 22, false)
       << pad("epochs→target", 16, false) << pad("ratio init", 12, false) << pad("ratio trained", 15, false) << "\n";
    os << std::string(12 + 5 + 22 + 22 + 16 + 12 + 15, '-') << "\n";
    for (const auto& g : groups_of(r)) {
        std::vector<double> tr, te, ep;
        for (const auto* run : g.runs) {
            tr.push_back(run->train_loss);
            te.push_back(run->test_loss);
            if (run->epochs_to_target) ep.push_back(double(run->epochs_to_target));
        }
        const std::string reached = ep.empty() ? std::string("-")
                                               : fmt("%.1f", mean(ep)) + " (" + std::to_string(ep.size()) + "/" +
                                                     std::to_string(g.runs.size()) + ")";
        auto pm = [](const std::vector<double>& v) { return fmt("%.4g", mean(v)) + " ± " + fmt("%.2g", sd(v)); };
        auto ratio = [](double x) { return x == 0 ? std::string("0 (underflow)") : fmt("%.2e", x); };
        os << pad(g.label, 12, true) << pad(std::to_string(g.steps), 5, false) << pad(pm(tr), 22, false)
           << pad(pm(te), 22, false) << pad(reached, 16, false)
           << pad(ratio(ratio_first_last(mean_curve(g, &study_run::grad_init))), 12, false)
           << pad(ratio(ratio_first_last(mean_curve(g, &study_run::grad_trained))), 15, false) << "\n";
    }
    // y = Σ x_t with x_t ~ U[0,1) independent: Var y = T/12, the test loss of always predicting the mean.
    os << "\nFor reference, always predicting the mean sum gives a test loss of about T/12:";
    for (std::size_t i = 0; i < o.lengths.size(); ++i)
        os << (i ? "," : "") << " T=" << o.lengths[i] << " -> " << fmt("%.3g", double(o.lengths[i]) / 12.0);
    os << "\n";
    return os.str();
}

void write_study_csvs(const study_result& r, const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir))
        throw argument_error("study: cannot create the output folder '" + dir.string() + "'" +
                             (ec ? ": " + ec.message() : std::string()) + "; choose another with --out");
    {
        const auto p = dir / "summary.csv";
        auto f = open_out(p);
        f << "activation,cell,T,seed,train_loss,test_loss,epochs_to_target,grad_ratio_init,grad_ratio_trained,seconds\n";
        for (const auto& run : r.runs)
            f << run.activation << "," << run.cell << "," << run.steps << "," << run.seed << "," << run.train_loss << ","
              << run.test_loss << "," << (run.epochs_to_target ? std::to_string(run.epochs_to_target) : "") << ","
              << ratio_first_last(run.grad_init) << "," << ratio_first_last(run.grad_trained) << ","
              << std::setprecision(3) << run.seconds << std::setprecision(9) << "\n";
        close_out(f, p);
    }
    {
        const auto p = dir / "gradnorms.csv";
        auto f = open_out(p);
        f << "activation,cell,T,when,t,norm\n";
        for (const auto& g : groups_of(r)) {
            for (const char* when : {"init", "trained"}) {
                const auto m = mean_curve(g, when[0] == 'i' ? &study_run::grad_init : &study_run::grad_trained);
                for (std::size_t t = 0; t < m.size(); ++t)
                    f << g.activation << "," << g.cell << "," << g.steps << "," << when << "," << t + 1 << "," << m[t]
                      << "\n";
            }
        }
        close_out(f, p);
    }
    {
        const auto p = dir / "curves.csv";
        auto f = open_out(p);
        f << "activation,cell,T,seed,epoch,test_loss\n";
        for (const auto& run : r.runs)
            for (std::size_t e = 0; e < run.test_curve.size(); ++e)
                f << run.activation << "," << run.cell << "," << run.steps << "," << run.seed << "," << e + 1 << ","
                  << run.test_curve[e] << "\n";
        close_out(f, p);
    }
}

std::filesystem::path find_gnuplot() { return find_program("gnuplot"); }

std::string write_study_plots(const study_result& r, const std::filesystem::path& dir) {
    const auto groups = groups_of(r);
    std::vector<std::size_t> lengths;
    for (const auto& g : groups)
        if (std::find(lengths.begin(), lengths.end(), g.steps) == lengths.end()) lengths.push_back(g.steps);
    // Whitespace-separated data files gnuplot reads by column: one per length and plot.
    std::ostringstream plots;  // the plot commands, written once per terminal
    for (const std::size_t T : lengths) {
        std::vector<const group*> gs;
        for (const auto& g : groups)
            if (g.steps == T) gs.push_back(&g);
        const std::string loss_dat = "plot_loss_T" + std::to_string(T) + ".dat";
        const std::string grad_dat = "plot_grad_T" + std::to_string(T) + ".dat";
        {
            auto f = open_out(dir / loss_dat);
            f << "# epoch, then the mean test loss over seeds of:";
            for (const auto* g : gs) f << " " << g->label;
            f << "\n";
            std::vector<std::vector<double>> curves;
            for (const auto* g : gs) curves.push_back(mean_curve(*g, &study_run::test_curve));
            for (std::size_t e = 0; e < r.options.epochs; ++e) {
                f << e + 1;
                for (const auto& c : curves) f << " " << (e < c.size() ? c[e] : std::nan(""));
                f << "\n";
            }
            close_out(f, dir / loss_dat);
        }
        {
            auto f = open_out(dir / grad_dat);
            f << "# t, then per model the mean ‖dL/dh_t‖ over seeds at init and after training:";
            for (const auto* g : gs) f << " " << g->label << "(init) " << g->label << "(trained)";
            f << "\n";
            std::vector<std::vector<double>> curves;
            for (const auto* g : gs) {
                curves.push_back(mean_curve(*g, &study_run::grad_init));
                curves.push_back(mean_curve(*g, &study_run::grad_trained));
            }
            for (std::size_t t = 0; t < T; ++t) {
                f << t + 1;
                for (const auto& c : curves) f << " " << (t < c.size() ? c[t] : std::nan(""));
                f << "\n";
            }
            close_out(f, dir / grad_dat);
        }
        const std::string stem = "_T" + std::to_string(T);
        plots << "set output 'loss" << stem << ".' . ext\n"
              << "set title 'Test loss (MSE) per epoch, T = " << T << ", mean over " << r.options.seeds.size()
              << " seeds'\nset xlabel 'epoch'\nset ylabel 'test loss (log)'\nplot ";
        for (std::size_t i = 0; i < gs.size(); ++i)
            plots << (i ? ", \\\n     " : "") << "'" << loss_dat << "' using 1:" << i + 2 << " with linespoints ls "
                  << i + 1 << " title " << gp_quote(gs[i]->label);
        plots << "\nset output 'gradnorms" << stem << ".' . ext\n"
              << "set title '‖∂L/∂h_t‖ on a fixed batch, T = " << T
              << " (dashed: at init, solid: trained)'\nset xlabel 't (time step)'\nset ylabel '‖∂L/∂h_t‖ (log)'\nplot ";
        for (std::size_t i = 0; i < gs.size(); ++i) {
            plots << (i ? ", \\\n     " : "") << "'" << grad_dat << "' using 1:" << 2 * i + 2 << " with lines ls "
                  << i + 1 << " dt 2 title " << gp_quote(gs[i]->label + " init");
            plots << ", \\\n     '" << grad_dat << "' using 1:" << 2 * i + 3 << " with lines ls " << i + 1
                  << " title " << gp_quote(gs[i]->label + " trained");
        }
        plots << "\n";
    }
    const auto script = dir / "plots.gp";
    {
        auto f = open_out(script);
        f << "# Written by `xgrad study`; run in this folder: gnuplot plots.gp\n"
             "set encoding utf8\nset logscale y\nset format y '%.0e'\nset grid\nset key outside right top\n"
             "set datafile missing 'nan'\n";
        const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
        for (int i = 0; i < 8; ++i)
            f << "set style line " << i + 1 << " lc rgb '" << colors[i] << "' lw 2 pt " << (i % 7) + 1 << "\n";
        f << "ext = 'svg'\nset terminal svg size 760,420 dynamic font 'Helvetica,12' background rgb 'white'\n"
          << plots.str() << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          << "  ext = 'png'\n  set terminal pngcairo size 760,420 font 'Helvetica,10'\n";
        std::istringstream in(plots.str());
        for (std::string line; std::getline(in, line);) f << "  " << line << "\n";
        f << "}\nset output\n";
        close_out(f, script);
    }
    const auto gnuplot = find_gnuplot();
    if (gnuplot.empty())
        return "study: gnuplot not found; plot with: cd " + dir.string() + " && gnuplot plots.gp";
    if (run_program(gnuplot, {"plots.gp"}, {.cwd = dir, .output = "gnuplot.log"}) != 0)
        throw error("study: gnuplot failed on " + script.string() + "; see " + (dir / "gnuplot.log").string());
    std::string made;
    for (const std::size_t T : lengths)
        made += (made.empty() ? "" : ", ") + std::string("loss_T") + std::to_string(T) + ".svg, gradnorms_T" +
                std::to_string(T) + ".svg";
    const bool png = std::filesystem::exists(dir / ("loss_T" + std::to_string(lengths.front()) + ".png"));
    return "study: plotted " + made + (png ? " (and .png)" : "") + " in " + dir.string();
}

std::vector<std::string> write_study_graphs(const study_options& o, const std::filesystem::path& dir,
                                            std::size_t steps) {
    std::vector<std::string> lines;
    std::vector<std::pair<std::string, std::string>> kinds;
    for (const auto& a : o.activations) kinds.push_back({"rnn", a});
    for (const auto& c : o.cells) kinds.push_back({c, "-"});
    for (const auto& [cell, act] : kinds) {
        nn::sequence_regressor_options mo;
        mo.cell = cell;
        if (cell == "rnn") mo.activation = act;
        mo.hidden = o.hidden;
        mo.seed = o.seeds.front();
        mo.dt = dtype::float64;  // keeps the smallest gradient norms exact
        mo.textbook = true;      // the picture students know: x_t and W_xh inside every step
        mo.biases = o.biases;
        nn::sequence_regressor model(mo);
        const auto batch = nn::sum_task(2, steps, 987654321, dtype::float64);
        tape t;
        var loss = mse(model(input(batch.x, "x")), input(batch.y, "y"));
        t.backward(loss);
        dot_options d;
        d.root = loss;
        d.only_ancestors = true;
        d.grad_colors = true;
        const std::string label = cell == "rnn" ? "rnn/" + act : cell;
        d.title = label + ", T = " + std::to_string(steps) + ", hidden " + std::to_string(o.hidden) +
                  ", at init: fill = log10 |dL/dx| after backward";
        const auto out = dir / ("unrolled_" + file_label(label) + ".svg");
        lines.push_back(save_graph(t, out, d).message);
    }
    return lines;
}

}  // namespace xgrad::cli
