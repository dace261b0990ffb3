// xgrad ops: list the op registry.
#include <iomanip>
#include <iostream>
#include <memory>

#include <xgrad/xgrad.hpp>

#include "commands.hpp"

namespace xgrad::cli {

command add_ops(CLI::App& app) {
    auto markdown = std::make_shared<bool>(false);
    auto* sub = app.add_subcommand("ops", "List every registered op with its family and maths");
    sub->add_flag("--markdown", *markdown, "Print the table as Markdown (the source of docs/ops.md)");
    return [markdown]() {
        if (*markdown) {
            std::cout << op_table_markdown();
            return 0;
        }
        for (const auto& e : op_table)
            std::cout << std::left << std::setw(16) << e.name << std::setw(12) << family_name(e.fam) << e.math << "\n";
        return 0;
    };
}

}  // namespace xgrad::cli
