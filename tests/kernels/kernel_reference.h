// Slow, obvious references for the kernel tests: random weight rows of every type, activation
// rows, and the exact value (in double) of a weight row dotted with an activation row, decoded
// element by element from the block fields as the format defines them.
//
// Rounding bound used by the dot-product and matmul tests: a kernel forms the exact integer
// sums of each (sub-)block, scales them with f32 products and adds the resulting f32 terms in
// some order. Each term has at most 3 roundings and there are at most n terms for a row of n
// elements, so by the standard summation analysis (Higham, "Accuracy and Stability of
// Numerical Algorithms", eq. 3.5 and 4.4) the result is within gamma(n + 3) * M of the exact
// value, where gamma(k) = k u / (1 - k u), u = 2^-24, and M is the sum over elements of
// (|scale part| + |offset part|) * |a_i|: weights are written w = s * q + o with q the
// unsigned stored quant and o the min or the offset (-8 s for Q4_0, -32 s for Q6_K, ...), so M
// bounds the sum of |terms| however a kernel groups the elements into terms, with offsets
// applied per element or through block sums. A wrong element, block, scale or min moves the
// result by a sizable fraction of M; correct arithmetic in any order stays within the bound.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "gguf/ggml_type.h"
#include "kernels/gemm.h"
#include "kernels/simd_level.h"

namespace gengyun::kernels::test {

/// gamma(k) = k u / (1 - k u) with u the f32 unit roundoff.
double gamma_n(int64_t k);

/// n_out rows of n_in weights of `type`: random quant bytes; f16 scale fields random in
/// [0.001, 0.05]; F32/F16/BF16 values uniform in [-1, 1].
std::vector<uint8_t> random_weights(gguf::GgmlType type, int64_t n_in, int64_t n_out,
                                    std::mt19937& rng);

/// Like random_weights but every f16 d is `d` and every dmin / m is `dmin` (powers of two make
/// every kernel's float arithmetic exact); F32/F16/BF16 values are integers in [-64, 64].
std::vector<uint8_t> random_weights_exact(gguf::GgmlType type, int64_t n_in, int64_t n_out,
                                          std::mt19937& rng, float d, float dmin);

/// n_out rows of n_in weights of a quantized `type` whose every byte is `fill` but the f16
/// d (= d) and dmin / m (= dmin) fields: 0x00 and 0xFF give the extreme quants (and sub-block
/// scales and mins) of every format.
std::vector<uint8_t> uniform_weights(gguf::GgmlType type, int64_t n_in, int64_t n_out, uint8_t fill,
                                     float d, float dmin);

/// An activation row of n elements in `act_type` (F32, F16, BF16, Q8_0, Q8_1, Q8_K) with
/// quants in [-7, 7] and block scale `d`; F32/F16/BF16 values are integers in [-64, 64].
/// Sums (Q8_1 s, Q8_K bsums) are consistent with the quants.
std::vector<uint8_t> small_activations(gguf::GgmlType act_type, int64_t n, float d,
                                       std::mt19937& rng);

/// The f32 row x quantized by ggml's reference quantizer of w_type's activation format
/// (quantize_row_q8_0 / q8_1 / q8_K blocks, f16 / bf16 values, or the f32 bytes themselves).
std::vector<uint8_t> activations_for(gguf::GgmlType w_type, const float* x, int64_t n);

/// The activation row (activation_rows.h) that the kernels take for activations given as
/// ggml blocks of act_type.
std::vector<uint8_t> activation_row(gguf::GgmlType act_type, const std::vector<uint8_t>& blocks,
                                    int64_t n);

/// Value and magnitude M (see above) of the dot product of one weight row with one
/// activation row in w_type's activation format, in double.
struct ExactDot {
  double value = 0;
  double magnitude = 0;
};
ExactDot exact_dot(gguf::GgmlType w_type, const uint8_t* w_row, const uint8_t* a_row, int64_t n);

/// The n weights of a row as scale part + offset part (w_i = scaled[i] + min[i], scaled the
/// scale times the unsigned stored quant, min the min or offset), in double.
struct WeightParts {
  std::vector<double> scaled;
  std::vector<double> min;
};
WeightParts decode_weights(gguf::GgmlType type, const uint8_t* row, int64_t n);

/// The types with kernels.
std::vector<gguf::GgmlType> kernel_types();

/// n_tokens activation rows of `type` at `level` (values normal(0, 1)) and the GEMM activation
/// rows `gemm` prepares from them, each set 64-byte aligned as matmul hands them over.
struct GemmRows {
  std::vector<uint8_t> a_buffer, g_buffer;
  uint8_t* a = nullptr;     ///< activation rows, a_row_bytes apart
  uint8_t* rows = nullptr;  ///< GEMM activation rows, g_row_bytes apart
  size_t a_row_bytes = 0, g_row_bytes = 0;
};
GemmRows gemm_rows(gguf::GgmlType type, SimdLevel level, const GemmKernels& gemm, int64_t n_in,
                   int64_t n_tokens, std::mt19937& rng);

/// y[t * n_out + o]: `type`'s vec_dot at `level` of ggml row o of w (n_out rows of n_in) with
/// activation row t of g, for n_tokens tokens.
std::vector<float> vec_dot_outputs(gguf::GgmlType type, SimdLevel level, const uint8_t* w,
                                   int64_t n_in, int64_t n_out, const GemmRows& g,
                                   int64_t n_tokens);

/// y[t * n_out + o] from gemm.multiply on the n_out weight rows at w (any layout gemm takes,
/// ggml_row_size(type, n_in) apart) and g's GEMM rows, the groups of 16 rows split among
/// `threads` threads as matmul splits them.
std::vector<float> gemm_outputs(gguf::GgmlType type, const GemmKernels& gemm, const uint8_t* w,
                                int64_t n_in, int64_t n_out, const GemmRows& g, int64_t n_tokens,
                                int threads);

}  // namespace gengyun::kernels::test
