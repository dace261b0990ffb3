#pragma once
// Gradient-check cases for every registered op: shapes (with broadcasting and batch size 1),
// sampling domains that keep inputs off kinks, and how to call the op. Used by the test that
// loops over the registry and by `xgrad check`.
#include <functional>
#include <string>
#include <vector>

#include "../graph/gradcheck.hpp"
#include "registry.hpp"

namespace xgrad {

struct op_check {
    op id;
    std::string label;                 // what is tried, e.g. "[3, 4] + [4]"
    std::vector<shape_t> shapes;       // one per input
    std::vector<domain> domains;       // one per input
    std::size_t classes = 0;           // for domain::index inputs
    std::vector<bool> differentiable;  // empty: all inputs
    gradcheck_fn apply;
};

// Every case, in registry order.
const std::vector<op_check>& op_checks();

struct op_check_result {
    const op_check* check;
    gradcheck_report report;
};
// Runs every case (or those of one op) in float64 with gradcheck's default tolerances.
std::vector<op_check_result> run_op_checks(std::uint64_t seed = 0);
op_check_result run_op_check(const op_check& c, std::uint64_t seed = 0);

}  // namespace xgrad
