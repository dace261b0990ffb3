#pragma once
// gradcheck: compare the tape's gradients with central differences, in float64.
//
//   auto report = xgrad::gradcheck([](std::span<const xgrad::var> in) { return my_function(in[0]); },
//                                  {xgrad::randn({3, 4}, 1, xgrad::dtype::float64)});
//   if (!report) report.print(std::cerr);
//
// The function may return any shape: it is reduced to L = Σ f(x) ⊙ R with a fixed random R, so
// every output element is checked at once (the analytic side is backward() seeded with R).
// Each checked element passes when |analytic - numeric| <= atol + rtol |numeric|.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "parameter.hpp"
#include "random.hpp"

namespace xgrad {

struct gradcheck_options {
    double eps = 1e-6;   // central-difference step
    double atol = 1e-5;
    double rtol = 1e-3;
    // Compare directional derivatives vᵀJu along `directions` random unit vectors per input
    // instead of every element: two evaluations per direction, for large inputs.
    bool random_direction = false;
    int directions = 8;
    std::uint64_t seed = 0;
    // Which inputs to check (empty: all). Unchecked inputs are plain constants (e.g. class indices).
    std::vector<bool> check;
};

struct gradcheck_entry {
    std::string what;          // "input 0" or the parameter's name
    shape_t shape;
    std::size_t checked = 0;   // elements (or directions) compared
    double max_abs_error = 0;
    double max_rel_error = 0;
    std::size_t worst = 0;     // flat index (or direction number) of the largest error
    double analytic = 0;       // at the worst element
    double numeric = 0;
    bool ok = true;
};

struct gradcheck_report {
    bool ok = true;
    std::vector<gradcheck_entry> entries;
    double max_abs_error() const;
    double max_rel_error() const;
    void print(std::ostream& os) const;
    std::string str() const;
    explicit operator bool() const { return ok; }
};

using gradcheck_fn = std::function<var(std::span<const var> inputs)>;

// Checks d f / d inputs. Inputs are converted to float64.
gradcheck_report gradcheck(const gradcheck_fn& f, std::vector<tensor> inputs, const gradcheck_options& opt = {});
// Also checks d f / d params (each must be float64: cast the model first). The parameters'
// values are perturbed in place and restored; their gradients are restored too.
gradcheck_report gradcheck(const gradcheck_fn& f, std::vector<tensor> inputs, std::vector<parameter> params,
                           const gradcheck_options& opt = {});

// Where to sample test inputs, so that checks stay off kinks and out of undefined regions.
enum class domain : std::uint8_t {
    real,       // N(0, 1)
    positive,   // U[0.5, 2]
    nonzero,    // ±U[0.5, 2]
    off_kinks,  // ±U[0.1, 2], kept at least 0.05 away from 0, ±0.5 and ±1
    unit,       // U[0.05, 0.95] (probabilities)
    index,      // integers in [0, classes)
};
const char* domain_name(domain d);
tensor sample(const shape_t& shape, domain d, rng& gen, dtype dt = dtype::float64, std::size_t classes = 2);

}  // namespace xgrad
