// `xgrad study --explode` (see study_explode.hpp and docs/study.md).
#include "study_explode.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <limits>
#include <ostream>
#include <sstream>

#include <unistd.h>

#include <xgrad/graph/process.hpp>

#include "output.hpp"

namespace xgrad::cli {

namespace {

using clock_type = std::chrono::steady_clock;

std::string fmt(const char* f, double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, x);
    return buf;
}

// A number for a CSV: 9 significant digits; non-finite values as inf, -inf, nan (never "-nan").
std::string num(double x) {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    std::ostringstream s;
    s << std::setprecision(9) << x;
    return s.str();
}

// %.4g / %.3g, with non-finite values as inf, -inf, nan.
std::string g4(double x) { return std::isfinite(x) ? fmt("%.4g", x) : num(x); }
std::string g3(double x) { return std::isfinite(x) ? fmt("%.3g", x) : num(x); }

// Pads to a width in characters (UTF-8 aware, for ρ, ‖ and ×): left- or right-aligned.
std::string pad(const std::string& s, std::size_t width, bool left) {
    std::size_t chars = 0;
    for (unsigned char c : s) chars += (c & 0xC0) != 0x80;
    const std::string fill(chars < width ? width - chars : 0, ' ');
    return left ? s + fill : fill + s;
}

std::string label(const std::string& activation) { return "rnn/" + activation; }

bool is_one_of(const std::string& s, std::initializer_list<const char*> names) {
    for (const char* n : names)
        if (s == n) return true;
    return false;
}

void write_file(const std::filesystem::path& p, const std::string& text) { write_text_file(p.string(), text, "study --explode"); }

// Largest |g| over the gradients clipping would touch (the parameters optimizer::step updates).
double max_abs_grad(const std::vector<parameter>& params) {
    double m = 0;
    for (const auto& p : params) {
        if (!p.requires_grad() || !p.grad().defined()) continue;
        const tensor g = p.grad().to(dtype::float64);
        const double* d = g.data<double>();
        for (std::size_t i = 0, n = g.size(); i < n; ++i) m = std::max(m, std::abs(d[i]));
    }
    return m;
}

// W_hh at initialisation: orthogonal · ρ (every eigenvalue has modulus ρ), or a N(0,1) matrix divided by
// its spectral radius and multiplied by ρ.
tensor recurrent_weight(const explode_options& o, std::uint64_t seed, dtype d) {
    rng gen(seed * 7919 + 104729);
    const std::size_t h = o.hidden;
    if (o.recurrent_init == "orthogonal") return nn::orthogonal({h, h}, gen, o.radius, dtype::float64).to(d);
    tensor g = tensor::zeros({h, h}, dtype::float64);
    for (std::size_t i = 0; i < h * h; ++i) g.set_flat(i, gen.normal());
    const double rho = spectral_radius(g, 4000);
    double* w = g.data<double>();
    for (std::size_t i = 0; i < h * h; ++i) w[i] *= o.radius / rho;
    return g.to(d);
}

explode_run train_one(const explode_options& o, const std::string& activation, std::size_t T, std::uint64_t seed,
                      const std::string& clip, const nn::dataset& train, const nn::dataset& test,
                      const nn::dataset& probe) {
    const auto t0 = clock_type::now();
    explode_run run{.activation = activation, .steps = T, .clip = clip, .seed = seed};
    nn::sequence_regressor_options mo;
    mo.cell = "rnn";
    mo.activation = activation;
    mo.hidden = o.hidden;
    mo.seed = seed;
    nn::sequence_regressor model(mo);
    parameter whh = model.find("rnn.weight_hh_l0");
    whh.value() = recurrent_weight(o, seed, whh.dtype());
    run.radius = spectral_radius(whh.value());
    run.grad_init = nn::step_grad_norms(model, probe);

    auto opt = nn::make_optimizer(o.optimizer, model, o.lr);
    std::vector<parameter> params;
    for (auto& p : model.parameters())
        if (p.requires_grad()) params.push_back(p);
    nn::data_loader loader(train.x, train.y, {.batch_size = o.batch_size, .shuffle = true, .seed = seed});
    tape t;
    std::size_t step = 0, clipped = 0;
    for (std::size_t epoch = 1; epoch <= o.epochs && !run.diverged; ++epoch) {
        for (nn::batch b; loader.next(b);) {
            t.clear();
            explode_step s{.step = ++step, .epoch = epoch};
            var loss = mse(model(input(b.x)), input(b.y));
            s.loss = loss.item();
            s.grad_norm = std::numeric_limits<double>::quiet_NaN();
            if (std::isfinite(s.loss)) {
                opt->zero_grad();
                t.backward(loss);
                s.grad_norm = nn::grad_norm(params);  // never throws; non-finite is checked below
            }
            run.max_grad_norm = std::max(run.max_grad_norm, std::isnan(s.grad_norm)
                                                                ? std::numeric_limits<double>::infinity()
                                                                : s.grad_norm);
            if (!std::isfinite(s.loss) || !std::isfinite(s.grad_norm)) {
                run.diverged = true;  // stop before an update that would spread inf/NaN into the weights
                run.trace.push_back(s);
                loader.restart();
                break;
            }
            if (clip == "norm") {
                s.clipped = o.clip_norm / (s.grad_norm + 1e-6) < 1;  // clip_grad_norm's own test
                nn::clip_grad_norm(params, o.clip_norm);
            } else if (clip == "value") {
                s.clipped = max_abs_grad(params) > o.clip_value;
                nn::clip_grad_value(params, o.clip_value);
            }
            clipped += s.clipped;
            opt->step();
            run.trace.push_back(s);
        }
    }
    run.clipped_fraction = run.trace.empty() ? 0 : double(clipped) / double(run.trace.size());
    run.train_loss = nn::evaluate(model, train);
    run.test_loss = nn::evaluate(model, test);
    run.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    return run;
}

std::string gp_quote(const std::string& s) {  // gnuplot single-quoted string ('' is a quote)
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
    return q + "'";
}

// A value for a gnuplot data file: non-finite values are gaps ('nan' is the missing marker).
std::string dat(double x) { return std::isfinite(x) ? num(x) : "nan"; }

}  // namespace

void check_explode_options(const explode_options& o) {
    const std::string who = "study --explode: ";
    if (o.activations.empty()) throw argument_error(who + "--activations is empty; give e.g. relu,tanh");
    for (const auto& a : o.activations) check_activation(a, "study --explode: --activations");
    if (o.lengths.empty()) throw argument_error(who + "--lengths is empty; give sequence lengths, e.g. 50,100");
    for (auto t : o.lengths)
        if (t == 0) throw argument_error(who + "--lengths has 0; sequence lengths must be at least 1");
    if (o.seeds.empty()) throw argument_error(who + "--seeds is empty; give a count (3) or a list (0,1,2)");
    if (o.clips.empty()) throw argument_error(who + "--clips is empty; give some of none,norm,value");
    for (const auto& c : o.clips)
        if (!is_one_of(c, {"none", "norm", "value"}))
            throw argument_error(who + "unknown clip '" + c + "' in --clips (use none, norm and/or value)");
    if (!is_one_of(o.recurrent_init, {"orthogonal", "normal"}))
        throw argument_error(who + "--recurrent-init must be orthogonal or normal, got '" + o.recurrent_init + "'");
    if (!is_one_of(o.optimizer, {"sgd", "adam", "adamw", "rmsprop"}))
        throw argument_error(who + "unknown --optimizer '" + o.optimizer + "' (use sgd, adam, adamw or rmsprop)");
    if (!(o.radius > 0) || !std::isfinite(o.radius) || o.radius > 100)
        throw argument_error(who + "--radius must be in (0, 100], got " + num(o.radius));
    if (!(o.lr > 0) || !std::isfinite(o.lr)) throw argument_error(who + "--lr must be finite and > 0, got " + num(o.lr));
    if (!(o.clip_norm > 0) || !std::isfinite(o.clip_norm))
        throw argument_error(who + "--clip-norm must be finite and > 0, got " + num(o.clip_norm));
    if (!(o.clip_value > 0) || !std::isfinite(o.clip_value))
        throw argument_error(who + "--clip-value must be finite and > 0, got " + num(o.clip_value));
    if (o.epochs == 0) throw argument_error(who + "--epochs must be at least 1");
    if (o.samples == 0) throw argument_error(who + "--samples must be at least 1");
    if (o.hidden == 0) throw argument_error(who + "--hidden must be at least 1");
    if (o.batch_size == 0 || o.grad_batch == 0) throw argument_error(who + "batch sizes must be at least 1");
}

double spectral_radius(const tensor& a, std::size_t iterations) {
    if (a.dim() != 2 || a.shape()[0] != a.shape()[1])
        throw argument_error("spectral_radius: needs a square matrix, got shape " + shape_str(a.shape()));
    const std::size_t n = a.shape()[0];
    const tensor m = a.to(dtype::float64);
    const double* w = m.data<double>();
    std::vector<double> x(n), y(n);
    rng gen(12345);
    for (auto& v : x) v = gen.normal();
    double log_growth = 0;
    for (std::size_t k = 0; k < 2 * iterations; ++k) {
        for (std::size_t i = 0; i < n; ++i) {
            double s = 0;
            for (std::size_t j = 0; j < n; ++j) s += w[i * n + j] * x[j];
            y[i] = s;
        }
        double nx = 0, ny = 0;
        for (std::size_t i = 0; i < n; ++i) {
            nx += x[i] * x[i];
            ny += y[i] * y[i];
        }
        if (!(ny > 0)) return 0;  // A x = 0: nilpotent along x (the zero matrix)
        const double growth = std::sqrt(ny / nx);
        if (k >= iterations) log_growth += std::log(growth);
        for (std::size_t i = 0; i < n; ++i) x[i] = y[i] / std::sqrt(ny);
    }
    return std::exp(log_growth / double(iterations));
}

explode_result run_explode(const explode_options& o, std::ostream* progress) {
    check_explode_options(o);
    explode_result result;
    result.options = o;
    const std::size_t total = o.activations.size() * o.lengths.size() * o.seeds.size() * o.clips.size();
    const std::size_t test_n = std::max<std::size_t>(16, o.samples / 10);
    const auto start = clock_type::now();
    std::size_t index = 0;
    for (const auto& a : o.activations)
        for (const std::size_t T : o.lengths) {
            const nn::dataset probe = nn::sum_task(o.grad_batch, T, 987654321);
            for (const std::uint64_t seed : o.seeds) {
                const auto train = nn::sum_task(o.samples, T, seed);
                const auto test = nn::sum_task(test_n, T, seed + 1000003);
                for (const auto& clip : o.clips) {
                    ++index;
                    auto run = train_one(o, a, T, seed, clip, train, test, probe);
                    if (progress) {
                        *progress << "[" << std::setw(std::to_string(total).size()) << index << "/" << total << "] "
                                  << std::left << std::setw(9) << label(a) << std::right << " T=" << std::setw(3) << T
                                  << " seed " << seed << " clip " << std::left << std::setw(5) << clip << std::right
                                  << "  max ‖g‖ " << g3(run.max_grad_norm) << "  test "
                                  << g4(run.test_loss)
                                  << (run.diverged ? "  DIVERGED at step " + std::to_string(run.trace.back().step)
                                                   : std::string())
                                  << "  " << fmt("%.1f", run.seconds) << "s\n"
                                  << std::flush;
                    }
                    result.runs.push_back(std::move(run));
                }
            }
        }
    result.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    return result;
}

std::string explode_table(const explode_result& r) {
    const auto& o = r.options;
    std::ostringstream os;
    os << "Exploding gradients: W_hh " << o.recurrent_init << " with spectral radius " << o.radius << ", "
       << o.optimizer << " lr " << o.lr << ", " << o.epochs << (o.epochs == 1 ? " epoch, " : " epochs, ") << o.samples
       << " samples, hidden " << o.hidden << "; clip norm " << o.clip_norm << ", clip value " << o.clip_value << "\n"
       << "max ‖g‖ = largest global gradient norm before clipping; ×none = the unclipped twin's max ‖g‖ / this run's\n\n";
    const std::size_t widths[] = {10, 5, 7, 6, 9, 12, 12, 11, 10, 9, 12};
    const char* heads[] = {"model", "T", "clip", "seed", "ρ(W_hh)", "train loss", "test loss", "max ‖g‖", "×none",
                           "clipped", "diverged"};
    for (std::size_t i = 0; i < 11; ++i) os << pad(heads[i], widths[i], i == 0);
    os << "\n" << std::string(103, '-') << "\n";
    for (const auto& run : r.runs) {
        const explode_run* none = nullptr;
        for (const auto& q : r.runs)
            if (q.clip == "none" && q.activation == run.activation && q.steps == run.steps && q.seed == run.seed) none = &q;
        const std::string ratio =
            none && run.clip != "none" && run.max_grad_norm > 0 ? g3(none->max_grad_norm / run.max_grad_norm) : "";
        const std::string cells[] = {label(run.activation), std::to_string(run.steps), run.clip, std::to_string(run.seed),
                                     fmt("%.3f", run.radius), g4(run.train_loss), g4(run.test_loss),
                                     g3(run.max_grad_norm), ratio, fmt("%.0f%%", 100 * run.clipped_fraction),
                                     run.diverged ? "at step " + std::to_string(run.trace.back().step) : "no"};
        for (std::size_t i = 0; i < 11; ++i) os << pad(cells[i], widths[i], i == 0);
        os << "\n";
    }
    os << "\nFor reference, always predicting the mean sum gives a test loss of about T/12:";
    for (std::size_t i = 0; i < o.lengths.size(); ++i)
        os << (i ? "," : "") << " T=" << o.lengths[i] << " -> " << fmt("%.3g", double(o.lengths[i]) / 12.0);
    os << "\n";
    return os.str();
}

void write_explode_csvs(const explode_result& r, const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir))
        throw argument_error("study --explode: cannot create the output folder '" + dir.string() + "'" +
                             (ec ? ": " + ec.message() : std::string()) + "; choose another with --out");
    std::ostringstream summary, steps, hgrad;
    summary << "model,T,clip,seed,radius,train_loss,test_loss,max_grad_norm,clipped_fraction,diverged,steps_run\n";
    steps << "model,T,clip,seed,step,epoch,loss,grad_norm,clipped\n";
    hgrad << "model,T,seed,t,norm\n";
    for (const auto& run : r.runs) {
        const std::string key = label(run.activation) + "," + std::to_string(run.steps) + "," + run.clip + "," +
                                std::to_string(run.seed) + ",";
        summary << key << num(run.radius) << "," << num(run.train_loss) << "," << num(run.test_loss) << ","
                << num(run.max_grad_norm) << "," << num(run.clipped_fraction) << "," << (run.diverged ? 1 : 0) << ","
                << run.trace.size() << "\n";
        for (const auto& s : run.trace)
            steps << key << s.step << "," << s.epoch << "," << num(s.loss) << "," << num(s.grad_norm) << ","
                  << (s.clipped ? 1 : 0) << "\n";
        // The same initialisation for every clip of a setting: written once, from the first clip run.
        if (run.clip == r.options.clips.front())
            for (std::size_t t = 0; t < run.grad_init.size(); ++t)
                hgrad << label(run.activation) << "," << run.steps << "," << run.seed << "," << t + 1 << ","
                      << num(run.grad_init[t]) << "\n";
    }
    write_file(dir / "summary.csv", summary.str());
    write_file(dir / "steps.csv", steps.str());
    write_file(dir / "hgrad_init.csv", hgrad.str());
}

std::string write_explode_plots(const explode_result& r, const std::filesystem::path& dir) {
    const auto& o = r.options;
    const std::uint64_t seed = o.seeds.front();  // the plots show the first seed's runs
    std::ostringstream plots;
    std::vector<std::string> made;
    for (const std::size_t T : o.lengths) {
        std::vector<const explode_run*> runs;
        for (const auto& run : r.runs)
            if (run.steps == T && run.seed == seed) runs.push_back(&run);
        std::size_t n = 0;
        for (const auto* run : runs) n = std::max(n, run->trace.size());
        const std::string stem = "_T" + std::to_string(T);
        {  // step, then per run: pre-clip norm and loss (gaps after a run stopped)
            std::ostringstream f;
            f << "# step, then per run its pre-clip gradient norm and its loss:";
            for (const auto* run : runs) f << " " << label(run->activation) << "/" << run->clip;
            f << "\n";
            for (std::size_t s = 0; s < n; ++s) {
                f << s + 1;
                for (const auto* run : runs) {
                    const bool has = s < run->trace.size();
                    f << " " << (has ? dat(run->trace[s].grad_norm) : "nan") << " "
                      << (has ? dat(run->trace[s].loss) : "nan");
                }
                f << "\n";
            }
            write_file(dir / ("explode_steps" + stem + ".dat"), f.str());
        }
        std::vector<const explode_run*> inits;  // one per activation and seed (every seed)
        for (const auto& run : r.runs)
            if (run.steps == T && run.clip == o.clips.front()) inits.push_back(&run);
        {
            std::ostringstream f;
            f << "# t, then per model and seed ‖dL/dh_t‖ at initialisation:";
            for (const auto* run : inits) f << " " << label(run->activation) << "/seed" << run->seed;
            f << "\n";
            for (std::size_t t = 0; t < T; ++t) {
                f << t + 1;
                for (const auto* run : inits) f << " " << dat(t < run->grad_init.size() ? run->grad_init[t] : NAN);
                f << "\n";
            }
            write_file(dir / ("explode_hgrad" + stem + ".dat"), f.str());
        }
        // Colour per activation, dash per clip.
        auto style = [&](const explode_run& run) {
            const auto a = std::find(o.activations.begin(), o.activations.end(), run.activation) - o.activations.begin();
            const int dt = run.clip == "none" ? 1 : run.clip == "norm" ? 2 : 3;
            return "ls " + std::to_string(a % 8 + 1) + " dt " + std::to_string(dt);
        };
        plots << "set output 'gradnorm_steps" << stem << ".' . ext\n"
              << "set title 'Global gradient norm before clipping per step, T = " << T << ", seed " << seed
              << " (solid: no clipping)'\nset xlabel 'training step'\nset ylabel '‖g‖ (log)'\nplot ";
        for (std::size_t i = 0; i < runs.size(); ++i)
            plots << (i ? ", \\\n     " : "") << "'explode_steps" << stem << ".dat' using 1:" << 2 * i + 2
                  << " with lines " << style(*runs[i]) << " title "
                  << gp_quote(label(runs[i]->activation) + " " + runs[i]->clip);
        plots << "\nset output 'loss_steps" << stem << ".' . ext\n"
              << "set title 'Batch loss (MSE) per step, T = " << T << ", seed " << seed
              << "'\nset xlabel 'training step'\nset ylabel 'loss (log)'\nplot ";
        for (std::size_t i = 0; i < runs.size(); ++i)
            plots << (i ? ", \\\n     " : "") << "'explode_steps" << stem << ".dat' using 1:" << 2 * i + 3
                  << " with lines " << style(*runs[i]) << " title "
                  << gp_quote(label(runs[i]->activation) + " " + runs[i]->clip);
        plots << "\nset output 'hgrad_init" << stem << ".' . ext\n"
              << "set title '‖∂L/∂h_t‖ at initialisation, ρ(W_{hh}) = " << o.radius << ", T = " << T
              << " (one line per seed)'\nset xlabel 't (time step)'\nset ylabel '‖∂L/∂h_t‖ (log)'\nplot ";
        for (std::size_t i = 0; i < inits.size(); ++i) {
            const auto a = std::find(o.activations.begin(), o.activations.end(), inits[i]->activation) - o.activations.begin();
            const auto k = std::find(o.seeds.begin(), o.seeds.end(), inits[i]->seed) - o.seeds.begin();
            plots << (i ? ", \\\n     " : "") << "'explode_hgrad" << stem << ".dat' using 1:" << i + 2
                  << " with lines ls " << a % 8 + 1 << " dt " << k % 5 + 1 << " title "
                  << gp_quote(label(inits[i]->activation) + " seed " + std::to_string(inits[i]->seed));
        }
        plots << "\n";
        for (const char* p : {"gradnorm_steps", "loss_steps", "hgrad_init"}) made.push_back(p + stem + ".svg");
    }
    std::ostringstream script;
    script << "# Written by `xgrad study --explode`; run in this folder: gnuplot explode.gp\n"
              "set encoding utf8\nset logscale y\nset format y '10^{%L}'\nset grid\nset key outside right top\n"
              "set datafile missing 'nan'\n";
    const char* colors[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
    for (int i = 0; i < 8; ++i) script << "set style line " << i + 1 << " lc rgb '" << colors[i] << "' lw 2\n";
    script << "ext = 'svg'\nset terminal svg size 760,420 dynamic font 'Helvetica,12' background rgb 'white'\n"
           << plots.str() << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
           << "  ext = 'png'\n  set terminal pngcairo size 760,420 font 'Helvetica,10'\n";
    std::istringstream in(plots.str());
    for (std::string line; std::getline(in, line);) script << "  " << line << "\n";
    script << "}\nset output\n";
    const auto path = dir / "explode.gp";
    write_file(path, script.str());
    const auto gnuplot = find_program("gnuplot");
    if (gnuplot.empty()) return "study: gnuplot not found; plot with: cd " + dir.string() + " && gnuplot explode.gp";
    if (run_program(gnuplot, {"explode.gp"}, {.cwd = dir, .output = "gnuplot.log"}) != 0)
        throw error("study: gnuplot failed on " + path.string() + "; see " + (dir / "gnuplot.log").string());
    std::string list;
    for (const auto& m : made) list += (list.empty() ? "" : ", ") + m;
    const bool png = std::filesystem::exists(dir / ("hgrad_init_T" + std::to_string(o.lengths.front()) + ".png"));
    return "study: plotted " + list + (png ? " (and .png)" : "") + " in " + dir.string();
}

}  // namespace xgrad::cli
