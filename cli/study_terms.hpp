#pragma once
// `xgrad study`'s terms of BPTT: for every model of the study at initialisation, on the fixed batch the
// gradient norms are measured on, each time step's term of the recurrent weights' gradients,
// ‖δ_t·h_{t-1}ᵀ‖ for weight_hh and ‖δ_t·x_tᵀ‖ for weight_ih, read from the tape (nn::step_terms).
//
//   std::cout << write_study_terms(o, "study") << "\n";   // terms.csv, terms_T<T>.dat, terms.gp (+ SVG)
#include <filesystem>
#include <string>

#include "study_core.hpp"

namespace xgrad::cli {

// Writes dir/terms.csv (cell,activation,T,seed,weight,t,norm: t = 1..T, one row per step and weight),
// dir/terms_T<T>.dat (t, then per model the mean over seeds of both weights' norms) and dir/terms.gp,
// and runs gnuplot on it when on PATH (terms_T<T>.svg, .png with pngcairo). Each file is written to a
// temporary beside it and renamed, so a failed write leaves the previous file. Returns one line.
// Throws argument_error when a file cannot be written, error when gnuplot fails.
std::string write_study_terms(const study_options& o, const std::filesystem::path& dir);

}  // namespace xgrad::cli
