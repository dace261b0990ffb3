#pragma once
// Initialisers for layer weights. Every draw comes from the caller's seeded xgrad::rng, so the same
// seed gives the same weights bit for bit (on any machine: rng is mt19937_64 plus distributions
// written in graph/random.cpp).
//
// Shapes follow PyTorch's layout: a weight is [out, in] (Keras stores the transpose, [in, out]).
//
// What the two libraries do by default (and what init_style selects in the layers):
//   Keras  Dense / SimpleRNN / LSTM / GRU kernel       glorot_uniform: U(±sqrt(6 / (fan_in + fan_out)))
//          recurrent_kernel                            orthogonal (gain 1), the whole [H, G·H] matrix at once
//          bias                                        zeros (LSTM: unit_forget_bias=True puts 1 in the forget
//                                                      gate's bias; GRU reset_after=True has an input and a
//                                                      recurrent bias, exactly PyTorch's bias_ih / bias_hh)
//          Embedding                                   U(±0.05)
//   PyTorch nn.RNN / LSTM / GRU                        every weight and bias U(±1/sqrt(H))
//          nn.Linear                                   weight kaiming_uniform(a=√5) = U(±1/sqrt(in)),
//                                                      bias U(±1/sqrt(in))
//          nn.Embedding                                N(0, 1)
// Keras's kernel [in, G·H] is our weight_ih [G·H, in] transposed: fan_in = in = shape[1], fan_out = G·H
// = shape[0] (the glorot bound only depends on their sum). Keras's recurrent kernel [H, G·H] has
// orthonormal rows; transposed into weight_hh [G·H, H] the columns are orthonormal: WᵀW = I_H.
#include <cstdint>

#include "../graph/random.hpp"
#include "../graph/tensor.hpp"

namespace xgrad::nn {

// Which library's defaults a layer copies.
enum class init_style { keras, pytorch };

tensor zeros(const shape_t& shape, dtype d = default_dtype());
// U[-bound, bound).
tensor uniform(const shape_t& shape, double bound, rng& gen, dtype d = default_dtype());
// U(±sqrt(6 / (fan_in + fan_out))) with fan_out = shape[0], fan_in = shape[1] (a [out, in] weight).
tensor glorot_uniform(const shape_t& shape, rng& gen, dtype d = default_dtype());
double glorot_bound(std::size_t fan_in, std::size_t fan_out);
// A [rows, cols] matrix with orthonormal columns (rows >= cols) or orthonormal rows (rows < cols),
// times gain: a standard normal matrix, orthonormalised by modified Gram-Schmidt (twice, for
// accuracy), which is its QR factorisation with R's diagonal made positive, as Keras and PyTorch do
// (q · sign(diag r)).
tensor orthogonal(const shape_t& shape, rng& gen, double gain = 1.0, dtype d = default_dtype());
// PyTorch's recurrent default U(±1/sqrt(hidden)).
tensor uniform_hidden(const shape_t& shape, std::size_t hidden, rng& gen, dtype d = default_dtype());

}  // namespace xgrad::nn
