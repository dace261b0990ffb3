// xgrad: the command-line program. `xgrad --help` lists the subcommands.
#include <iostream>
#include <vector>

#include <xgrad/ops/ops.hpp>

#include "commands.hpp"

int main(int argc, char** argv) {
    // OpenBLAS falls back to SSE3 kernels on CPUs it cannot name (typical in VMs); restart with the
    // right ones (see blas_info in ops/ops.hpp; XGRAD_KEEP_BLAS_CORE=1 turns this off).
    xgrad::reexec_with_best_blas_core(argv);
    CLI::App app{"xgrad: reverse-mode autodiff for recurrent networks (train, generate text, inspect, gradient-check)"};
    app.require_subcommand(1);
    std::vector<std::pair<CLI::App*, xgrad::cli::command>> commands;
    auto add = [&](xgrad::cli::command (*make)(CLI::App&)) {
        const std::size_t before = app.get_subcommands({}).size();
        auto run = make(app);
        commands.emplace_back(app.get_subcommands({})[before], std::move(run));
    };
    add(xgrad::cli::add_check);
    add(xgrad::cli::add_ops);
    add(xgrad::cli::add_train);
    add(xgrad::cli::add_graph);
    add(xgrad::cli::add_bench);
    add(xgrad::cli::add_generate);
    add(xgrad::cli::add_study);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        for (auto& [sub, run] : commands)
            if (sub->parsed()) return run();
    } catch (const std::exception& e) {
        std::cerr << "xgrad: error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
