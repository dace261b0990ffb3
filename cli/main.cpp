// xgrad: the command-line program. `xgrad --help` lists the subcommands.
#include <iostream>
#include <vector>

#include "commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"xgrad: reverse-mode autodiff for recurrent networks (train, inspect, gradient-check)"};
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
