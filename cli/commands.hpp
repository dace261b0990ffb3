#pragma once
// Subcommands of the xgrad program. Each registers its options on the CLI11 app and returns the
// function that runs it (its exit code).
#include <functional>

#include <CLI/CLI.hpp>

namespace xgrad::cli {

using command = std::function<int()>;

command add_check(CLI::App& app);
command add_ops(CLI::App& app);
command add_train(CLI::App& app);
command add_graph(CLI::App& app);
command add_bench(CLI::App& app);
command add_generate(CLI::App& app);
command add_study(CLI::App& app);
command add_predict(CLI::App& app);
command add_export(CLI::App& app);

}  // namespace xgrad::cli
