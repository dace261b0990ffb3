// xgrad check: gradient-check every registered op in float64 and print one row per op.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>

#include <xgrad/xgrad.hpp>

#include "commands.hpp"
#include "options.hpp"

namespace xgrad::cli {

namespace {
struct check_options {
    std::string only;
    std::uint64_t seed = 0;
    bool verbose = false;
};
}  // namespace

command add_check(CLI::App& app) {
    auto opt = std::make_shared<check_options>();
    auto* sub = app.add_subcommand("check", "Gradient-check every registered op (float64, central differences)");
    sub->add_option("--op", opt->only, "Check only this op (a registry name, e.g. tanh)");
    seed(*sub, opt->seed, "Seed for the sampled inputs");
    sub->add_flag("-v,--verbose", opt->verbose, "Print every case, not one row per op");
    return [opt]() {
        if (!opt->only.empty() && !find_op(opt->only)) {
            std::cerr << "xgrad check: unknown op '" << opt->only << "'. Known ops:";
            for (const auto& e : op_table) std::cerr << " " << e.name;
            std::cerr << "\n";
            return 2;
        }
        struct row {
            std::vector<std::string> shapes;
            double abs = 0, rel = 0;
            bool ok = true;
            int cases = 0;
        };
        std::map<std::size_t, row> rows;
        for (const auto& c : op_checks()) {
            if (!opt->only.empty() && info(c.id).name != opt->only) continue;
            auto r = run_op_check(c, opt->seed);
            auto& w = rows[static_cast<std::size_t>(c.id)];
            w.shapes.push_back(c.label);
            w.abs = std::max(w.abs, r.report.max_abs_error());
            w.rel = std::max(w.rel, r.report.max_rel_error());
            w.ok = w.ok && r.report.ok;
            ++w.cases;
            if (opt->verbose || !r.report.ok) {
                std::cout << info(c.id).name << " " << c.label << ":\n";
                r.report.print(std::cout);
            }
        }
        std::cout << std::left << std::setw(16) << "op" << std::setw(46) << "shapes tried" << std::right
                  << std::setw(12) << "max abs" << std::setw(12) << "max rel" << "  result\n";
        int failed = 0, missing = 0;
        for (const auto& e : op_table) {
            if (!opt->only.empty() && e.name != opt->only) continue;
            auto it = rows.find(static_cast<std::size_t>(e.id));
            std::cout << std::left << std::setw(16) << e.name;
            if (it == rows.end()) {
                std::cout << "(no gradient check registered)  FAIL\n";
                ++missing;
                continue;
            }
            const auto& w = it->second;
            std::string shapes;
            for (const auto& s : w.shapes) shapes += (shapes.empty() ? "" : "; ") + s;
            if (shapes.size() > 44) shapes = shapes.substr(0, 41) + "...";
            std::cout << std::setw(46) << shapes << std::right << std::scientific << std::setprecision(2)
                      << std::setw(12) << w.abs << std::setw(12) << w.rel << std::defaultfloat << "  "
                      << (w.ok ? "PASS" : "FAIL") << "\n";
            if (!w.ok) ++failed;
        }
        const std::size_t total = opt->only.empty() ? op_count : 1;
        std::cout << "\n" << (total - failed - missing) << " of " << total << " ops pass"
                  << " (float64, eps 1e-6, atol 1e-5, rtol 1e-3)\n";
        return failed + missing ? 1 : 0;
    };
}

}  // namespace xgrad::cli
