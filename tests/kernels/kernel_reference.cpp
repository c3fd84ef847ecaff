#include "kernel_reference.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "kernels/activation_rows.h"
#include "kernels/float16.h"
#include "kernels/quantize_activations.h"
#include "kernels/thread_pool.h"
#include "kernels/type_kernels.h"

namespace gengyun::kernels::test {
namespace {

using gguf::GgmlType;

double half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

// Byte offsets of the f16 d and dmin/m fields inside one block (-1: absent).
struct ScaleFields {
  int d = -1, dmin = -1;
};

ScaleFields scale_fields(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
    case GgmlType::Q8_0:
    case GgmlType::IQ4_NL:
      return {0, -1};
    case GgmlType::Q4_1:
    case GgmlType::Q5_1:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
      return {0, 2};
    case GgmlType::Q2_K:
      return {80, 82};
    case GgmlType::Q3_K:
      return {108, -1};
    case GgmlType::Q6_K:
      return {208, -1};
    default:
      return {};
  }
}

bool is_float(GgmlType type) {
  return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16;
}

void put_float(GgmlType type, uint8_t* p, float v) {
  if (type == GgmlType::F32) {
    std::memcpy(p, &v, 4);
  } else {
    const uint16_t h = type == GgmlType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
    std::memcpy(p, &h, 2);
  }
}

double get_float(GgmlType type, const uint8_t* p) {
  if (type == GgmlType::F32) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return type == GgmlType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
}

template <typename ScaleFn>
std::vector<uint8_t> make_weights(GgmlType type, int64_t n_in, int64_t n_out, std::mt19937& rng,
                                  ScaleFn scale_for_field, bool integer_floats) {
  const size_t row_bytes = gguf::ggml_row_size(type, n_in);
  std::vector<uint8_t> w(row_bytes * static_cast<size_t>(n_out));
  if (is_float(type)) {
    const size_t size = gguf::ggml_type_info(type).type_size;
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    std::uniform_int_distribution<int> integer(-64, 64);
    for (size_t i = 0; i < w.size() / size; ++i)
      put_float(type, w.data() + i * size,
                integer_floats ? static_cast<float>(integer(rng)) : value(rng));
    return w;
  }
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  const ScaleFields f = scale_fields(type);
  const size_t block_bytes = gguf::ggml_type_info(type).type_size;
  for (size_t block = 0; block < w.size() / block_bytes; ++block) {
    uint8_t* p = w.data() + block * block_bytes;
    for (int field : {f.d, f.dmin}) {
      if (field < 0) continue;
      const uint16_t h = fp32_to_fp16(scale_for_field(field == f.d));
      std::memcpy(p + field, &h, 2);
    }
  }
  return w;
}

}  // namespace

double gamma_n(int64_t k) {
  const double u = FLT_EPSILON / 2;
  return static_cast<double>(k) * u / (1 - static_cast<double>(k) * u);
}

std::vector<GgmlType> kernel_types() {
  return {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,  GgmlType::Q4_0,
          GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K,  GgmlType::Q3_K,
          GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL};
}

std::vector<uint8_t> random_weights(GgmlType type, int64_t n_in, int64_t n_out, std::mt19937& rng) {
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  return make_weights(
      type, n_in, n_out, rng, [&](bool) { return scale(rng); }, false);
}

std::vector<uint8_t> random_weights_exact(GgmlType type, int64_t n_in, int64_t n_out,
                                          std::mt19937& rng, float d, float dmin) {
  return make_weights(
      type, n_in, n_out, rng, [&](bool is_d) { return is_d ? d : dmin; }, true);
}

std::vector<uint8_t> uniform_weights(GgmlType type, int64_t n_in, int64_t n_out, uint8_t fill,
                                     float d, float dmin) {
  std::mt19937 rng;  // the quant bytes drawn from it are all overwritten
  std::vector<uint8_t> w = make_weights(
      type, n_in, n_out, rng, [&](bool is_d) { return is_d ? d : dmin; }, false);
  const ScaleFields f = scale_fields(type);
  const size_t block_bytes = gguf::ggml_type_info(type).type_size;
  for (size_t i = 0; i < w.size(); ++i) {
    const auto at = static_cast<int>(i % block_bytes);
    const bool scale_byte = (f.d >= 0 && (at == f.d || at == f.d + 1)) ||
                            (f.dmin >= 0 && (at == f.dmin || at == f.dmin + 1));
    if (!scale_byte) w[i] = fill;
  }
  return w;
}

std::vector<uint8_t> small_activations(GgmlType act_type, int64_t n, float d, std::mt19937& rng) {
  std::uniform_int_distribution<int> quant(-7, 7);
  std::uniform_int_distribution<int> integer(-64, 64);
  std::vector<uint8_t> a(gguf::ggml_row_size(act_type, n));
  if (is_float(act_type)) {
    const size_t size = gguf::ggml_type_info(act_type).type_size;
    for (int64_t i = 0; i < n; ++i)
      put_float(act_type, a.data() + i * size, static_cast<float>(integer(rng)));
    return a;
  }
  const auto info = gguf::ggml_type_info(act_type);
  for (int64_t b = 0; b < n / info.block_size; ++b) {
    uint8_t* p = a.data() + b * info.type_size;
    if (act_type == GgmlType::Q8_K) {
      std::memcpy(p, &d, 4);
      auto* qs = reinterpret_cast<int8_t*>(p + 4);
      for (int g = 0; g < 16; ++g) {
        int16_t sum = 0;
        for (int l = 0; l < 16; ++l)
          sum = static_cast<int16_t>(sum + (qs[16 * g + l] = static_cast<int8_t>(quant(rng))));
        std::memcpy(p + 4 + 256 + 2 * g, &sum, 2);
      }
      continue;
    }
    const uint16_t hd = fp32_to_fp16(d);
    std::memcpy(p, &hd, 2);
    const int offset = act_type == GgmlType::Q8_1 ? 4 : 2;
    int sum = 0;
    for (int j = 0; j < 32; ++j)
      sum += static_cast<int8_t>(p[offset + j] = static_cast<uint8_t>(quant(rng)));
    if (act_type == GgmlType::Q8_1) {
      const uint16_t hs = fp32_to_fp16(d * static_cast<float>(sum));
      std::memcpy(p + 2, &hs, 2);
    }
  }
  return a;
}

std::vector<uint8_t> activations_for(GgmlType w_type, const float* x, int64_t n) {
  const GgmlType act_type = type_kernels(w_type, SimdLevel::kScalar).activation_type;
  std::vector<uint8_t> a(gguf::ggml_row_size(act_type, n));
  switch (act_type) {
    case GgmlType::Q8_0:
      quantize_row_q8_0(x, a.data(), n);
      break;
    case GgmlType::Q8_1:
      quantize_row_q8_1(x, a.data(), n);
      break;
    case GgmlType::Q8_K:
      quantize_row_q8_K(x, a.data(), n);
      break;
    case GgmlType::F16:
      round_row_to_f16(x, a.data(), n);
      break;
    case GgmlType::BF16:
      round_row_to_bf16(x, a.data(), n);
      break;
    default:
      std::memcpy(a.data(), x, a.size());
      break;
  }
  return a;
}

std::vector<uint8_t> activation_row(GgmlType act_type, const std::vector<uint8_t>& blocks,
                                    int64_t n) {
  std::vector<uint8_t> row(activation_row_bytes(act_type, n));
  activation_row_from_blocks(act_type, blocks.data(), n, row.data());
  return row;
}

WeightParts decode_weights(GgmlType type, const uint8_t* row, int64_t n) {
  WeightParts w{std::vector<double>(static_cast<size_t>(n)),
                std::vector<double>(static_cast<size_t>(n), 0.0)};
  if (is_float(type)) {
    const size_t size = gguf::ggml_type_info(type).type_size;
    for (int64_t i = 0; i < n; ++i) w.scaled[i] = get_float(type, row + i * size);
    return w;
  }
  static constexpr int kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};
  const auto info = gguf::ggml_type_info(type);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* b = row + (i / info.block_size) * info.type_size;
    const int e = static_cast<int>(i % info.block_size);
    double& sq = w.scaled[i];
    double& mn = w.min[i];
    switch (type) {
      case GgmlType::Q4_0:
      case GgmlType::Q4_1:
      case GgmlType::IQ4_NL: {
        const int qs_at = type == GgmlType::Q4_1 ? 4 : 2;
        const int nib = e < 16 ? b[qs_at + e] & 15 : b[qs_at + e - 16] >> 4;
        if (type == GgmlType::Q4_0) {
          sq = half(b) * nib;
          mn = -8 * half(b);
        }
        if (type == GgmlType::IQ4_NL) {  // stored levels + 128 and the offset -128
          sq = half(b) * (kLevels[nib] + 128);
          mn = -128 * half(b);
        }
        if (type == GgmlType::Q4_1) {
          sq = half(b) * nib;
          mn = half(b + 2);
        }
        break;
      }
      case GgmlType::Q5_0:
      case GgmlType::Q5_1: {
        const int qh_at = type == GgmlType::Q5_1 ? 4 : 2;
        const int nib = e < 16 ? b[qh_at + 4 + e] & 15 : b[qh_at + 4 + e - 16] >> 4;
        const int q = nib | ((b[qh_at + e / 8] >> (e % 8)) & 1) << 4;
        if (type == GgmlType::Q5_0) {
          sq = half(b) * q;
          mn = -16 * half(b);
        } else {
          sq = half(b) * q;
          mn = half(b + 2);
        }
        break;
      }
      case GgmlType::Q8_0:
        sq = half(b) * static_cast<int8_t>(b[2 + e]);
        break;
      case GgmlType::Q2_K: {  // scales[16], qs[64], d, dmin
        const int sc = b[e / 16];
        const int q = (b[16 + 32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
        sq = half(b + 80) * (sc & 15) * q;
        mn = -half(b + 82) * (sc >> 4);
        break;
      }
      case GgmlType::Q3_K: {  // hmask[32], qs[64], scales[12], d
        const int j = e / 16;
        const uint8_t* s = b + 96;
        const int low4 = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
        const int high2 = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        const int scale = (low4 | high2 << 4) - 32;
        const int low = (b[32 + 32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
        const bool high = (b[e % 32] >> (e / 32)) & 1;
        sq = half(b + 108) * scale * (low + (high ? 4 : 0));
        mn = -4 * half(b + 108) * scale;
        break;
      }
      case GgmlType::Q4_K:
      case GgmlType::Q5_K: {  // d, dmin, scales[12], (qh[32]), qs[128]
        const int j = e / 32;
        const uint8_t* s = b + 4;
        const int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        const int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4;
        const int qs_at = type == GgmlType::Q5_K ? 48 : 16;
        const uint8_t byte = b[qs_at + 32 * (e / 64) + e % 32];
        int q = (e / 32) % 2 ? byte >> 4 : byte & 15;
        if (type == GgmlType::Q5_K) q |= ((b[16 + e % 32] >> (e / 32)) & 1) << 4;
        sq = half(b) * sc * q;
        mn = -half(b + 2) * m;
        break;
      }
      case GgmlType::Q6_K: {  // ql[128], qh[64], scales[16] int8, d
        const int h = e / 128, s = (e / 32) % 4, l = e % 32;
        const uint8_t lb = b[64 * h + 32 * (s % 2) + l];
        const int low = s < 2 ? lb & 15 : lb >> 4;
        const int high = (b[128 + 32 * h + l] >> (2 * s)) & 3;
        const double scale = half(b + 208) * static_cast<int8_t>(b[192 + e / 16]);
        sq = scale * (low | high << 4);
        mn = -32 * scale;
        break;
      }
      default:
        break;
    }
  }
  return w;
}

ExactDot exact_dot(GgmlType w_type, const uint8_t* w_row, const uint8_t* a_row, int64_t n) {
  const GgmlType act_type = type_kernels(w_type, SimdLevel::kScalar).activation_type;
  const WeightParts w = decode_weights(w_type, w_row, n);
  ExactDot r;
  for (int64_t i = 0; i < n; ++i) {
    double a;
    if (is_float(act_type)) {
      a = get_float(act_type, a_row + i * gguf::ggml_type_info(act_type).type_size);
    } else if (act_type == GgmlType::Q8_K) {
      const uint8_t* b = a_row + (i / 256) * 292;
      float d;
      std::memcpy(&d, b, 4);
      a = static_cast<double>(d) * static_cast<int8_t>(b[4 + i % 256]);
    } else {
      const size_t size = act_type == GgmlType::Q8_1 ? 36 : 34;
      const uint8_t* b = a_row + (i / 32) * size;
      a = half(b) * static_cast<int8_t>(b[size - 32 + i % 32]);
    }
    r.value += w.scaled[i] * a;
    r.magnitude += std::fabs(w.scaled[i] * a);
    if (act_type != GgmlType::Q8_1) {
      r.value += w.min[i] * a;
      r.magnitude += std::fabs(w.min[i] * a);
    } else if (i % 32 == 0) {  // Q4_1 / Q5_1: m times the block's stored d * sum
      const double s = half(a_row + (i / 32) * 36 + 2);
      r.value += w.min[i] * s;
      r.magnitude += std::fabs(w.min[i] * s);
    }
  }
  return r;
}

GemmRows gemm_rows(gguf::GgmlType type, SimdLevel level, const GemmKernels& gemm, int64_t n_in,
                   int64_t n_tokens, std::mt19937& rng) {
  const TypeKernels& k = type_kernels(type, level);
  GemmRows r;
  r.a_row_bytes = activation_row_bytes(k.activation_type, n_in);
  r.g_row_bytes = gemm.row_bytes(n_in);
  r.a_buffer.resize(r.a_row_bytes * static_cast<size_t>(n_tokens) + 64);
  r.g_buffer.resize(r.g_row_bytes * static_cast<size_t>(n_tokens) + 64);
  auto aligned = [](std::vector<uint8_t>& b) {
    return b.data() + (64 - reinterpret_cast<uintptr_t>(b.data()) % 64) % 64;
  };
  r.a = aligned(r.a_buffer);
  r.rows = aligned(r.g_buffer);
  std::normal_distribution<float> value(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_in));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (auto& v : x) v = value(rng);
    k.quantize_activations(x.data(), r.a + t * r.a_row_bytes, n_in);
    gemm.prepare(r.a + t * r.a_row_bytes, n_in, r.rows + t * r.g_row_bytes);
  }
  return r;
}

std::vector<float> vec_dot_outputs(gguf::GgmlType type, SimdLevel level, const uint8_t* w,
                                   int64_t n_in, int64_t n_out, const GemmRows& g,
                                   int64_t n_tokens) {
  std::vector<float> y(static_cast<size_t>(n_tokens * n_out));
  for (int64_t t = 0; t < n_tokens; ++t)
    type_kernels(type, level).vec_dot(n_in, w, gguf::ggml_row_size(type, n_in), n_out,
                                      g.a + t * g.a_row_bytes, y.data() + t * n_out);
  return y;
}

std::vector<float> gemm_outputs(gguf::GgmlType type, const GemmKernels& gemm, const uint8_t* w,
                                int64_t n_in, int64_t n_out, const GemmRows& g, int64_t n_tokens,
                                int threads) {
  std::vector<float> y(static_cast<size_t>(n_tokens * n_out), NAN);
  GemmProblem p;
  p.n_in = n_in;
  p.w = w;
  p.w_row_bytes = gguf::ggml_row_size(type, n_in);
  p.rows = g.rows;
  p.row_bytes = g.g_row_bytes;
  p.n_tokens = n_tokens;
  p.y = y.data();
  p.y_stride = n_out;
  ThreadPool pool(threads);
  pool.parallel_for((n_out + 15) / 16, [&](int64_t begin, int64_t end) {
    gemm.multiply(p, 16 * begin, std::min(16 * end, n_out));
  });
  return y;
}

}  // namespace gengyun::kernels::test
