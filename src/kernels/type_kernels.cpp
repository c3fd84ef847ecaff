#include "kernels/type_kernels.h"

#include <array>
#include <iterator>

#include "kernels/dequantize_scalar.h"
#include "kernels/quantize_activations.h"
#include "kernels/quantize_activations_simd.h"
#include "kernels/vec_dot_scalar.h"
#include "kernels/vec_dot_simd.h"
#include "kernels/weight_layout.h"
#include "kernels/weight_layout_simd.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

constexpr size_t kMaxTypeId = 40;  // above every ggml type id (ggml_type.h)
using Table = std::array<TypeKernels, kMaxTypeId>;

Table scalar_table() {
  Table table{};
  auto set = [&table](GgmlType type, DequantizeRowFn dequantize, GgmlType activation_type,
                      QuantizeRowFn quantize, VecDotFn vec_dot) {
    table[static_cast<size_t>(type)] = {dequantize, activation_type, quantize, vec_dot,
                                        nullptr,    nullptr,         nullptr,  nullptr};
  };
  using namespace scalar;
  set(GgmlType::F32, dequantize_row_f32, GgmlType::F32, nullptr, vec_dot_f32);
  set(GgmlType::F16, dequantize_row_f16, GgmlType::F16, round_row_to_f16, vec_dot_f16);
  set(GgmlType::BF16, dequantize_row_bf16, GgmlType::BF16, round_row_to_bf16, vec_dot_bf16);
  set(GgmlType::Q4_0, dequantize_row_q4_0, GgmlType::Q8_0, quantize_activation_row_q8_0,
      vec_dot_q4_0);
  set(GgmlType::Q4_1, dequantize_row_q4_1, GgmlType::Q8_1, quantize_activation_row_q8_1,
      vec_dot_q4_1);
  set(GgmlType::Q5_0, dequantize_row_q5_0, GgmlType::Q8_0, quantize_activation_row_q8_0,
      vec_dot_q5_0);
  set(GgmlType::Q5_1, dequantize_row_q5_1, GgmlType::Q8_1, quantize_activation_row_q8_1,
      vec_dot_q5_1);
  set(GgmlType::Q8_0, dequantize_row_q8_0, GgmlType::Q8_0, quantize_activation_row_q8_0,
      vec_dot_q8_0);
  set(GgmlType::Q2_K, dequantize_row_q2_K, GgmlType::Q8_K, quantize_row_q8_K, vec_dot_q2_K);
  set(GgmlType::Q3_K, dequantize_row_q3_K, GgmlType::Q8_K, quantize_row_q8_K, vec_dot_q3_K);
  set(GgmlType::Q4_K, dequantize_row_q4_K, GgmlType::Q8_K, quantize_row_q8_K, vec_dot_q4_K);
  set(GgmlType::Q5_K, dequantize_row_q5_K, GgmlType::Q8_K, quantize_row_q8_K, vec_dot_q5_K);
  set(GgmlType::Q6_K, dequantize_row_q6_K, GgmlType::Q8_K, quantize_row_q8_K, vec_dot_q6_K);
  set(GgmlType::IQ4_NL, dequantize_row_iq4_nl, GgmlType::Q8_0, quantize_activation_row_q8_0,
      vec_dot_iq4_nl);
  return table;
}

#if defined(__x86_64__)
// The entries of one x86 level: vec_dot, the activation quantizers, the decode products on
// WeightLayout::kBlockGroups16 with the Q8_K activation arrangements of Q4_K (Q5_K's too) and
// Q6_K (Q2_K's and Q3_K's too), and the batched kernels (gemm.h) on both layouts.
struct X86Level {
  VecDotFn f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl;
  QuantizeRowFn q8_0_row, q8_1_row, q8_K_row, f16_row, bf16_row;
  VecDotFn q8_0_groups16, q4_0_groups16, q5_0_groups16, q4_1_groups16, q5_1_groups16,
      iq4_nl_groups16, q2_K_groups16, q3_K_groups16, q4_K_groups16, q5_K_groups16, q6_K_groups16;
  ArrangeRowFn q4_K_arrange, q6_K_arrange;
  const GemmKernels* (*gemm)(uint32_t type_id);
  const GemmKernels* (*gemm_groups16)(uint32_t type_id);
};

// ns: the level's namespace; arrange: where its Q8_K arrangements are (the AVX2 level takes
// the portable ones).
#define GENGYUN_X86_LEVEL(ns, arrange)                                                             \
  X86Level {                                                                                       \
    ns::vec_dot_f32, ns::vec_dot_f16, ns::vec_dot_bf16, ns::vec_dot_q4_0, ns::vec_dot_q4_1,        \
        ns::vec_dot_q5_0, ns::vec_dot_q5_1, ns::vec_dot_q8_0, ns::vec_dot_q2_K, ns::vec_dot_q3_K,  \
        ns::vec_dot_q4_K, ns::vec_dot_q5_K, ns::vec_dot_q6_K, ns::vec_dot_iq4_nl,                  \
        ns::quantize_activation_row_q8_0, ns::quantize_activation_row_q8_1, ns::quantize_row_q8_K, \
        ns::round_row_to_f16, ns::round_row_to_bf16, ns::vec_dot_q8_0_groups16,                    \
        ns::vec_dot_q4_0_groups16, ns::vec_dot_q5_0_groups16, ns::vec_dot_q4_1_groups16,           \
        ns::vec_dot_q5_1_groups16, ns::vec_dot_iq4_nl_groups16, ns::vec_dot_q2_K_groups16,         \
        ns::vec_dot_q3_K_groups16, ns::vec_dot_q4_K_groups16, ns::vec_dot_q5_K_groups16,           \
        ns::vec_dot_q6_K_groups16, arrange::q8_K_row_to_block_groups16,                            \
        arrange::q8_K_row_to_q6_K_groups16, ns::gemm_kernels, ns::gemm_kernels_groups16            \
  }
constexpr X86Level kAvx2 = GENGYUN_X86_LEVEL(avx2, kernels);
constexpr X86Level kAvx512 = GENGYUN_X86_LEVEL(avx512, avx512);
#undef GENGYUN_X86_LEVEL

void apply(const X86Level& level, Table& table) {
  auto vec_dot = [&table](GgmlType type, VecDotFn fn) {
    table[static_cast<size_t>(type)].vec_dot = fn;
  };
  vec_dot(GgmlType::F32, level.f32);
  vec_dot(GgmlType::F16, level.f16);
  vec_dot(GgmlType::BF16, level.bf16);
  vec_dot(GgmlType::Q4_0, level.q4_0);
  vec_dot(GgmlType::Q4_1, level.q4_1);
  vec_dot(GgmlType::Q5_0, level.q5_0);
  vec_dot(GgmlType::Q5_1, level.q5_1);
  vec_dot(GgmlType::Q8_0, level.q8_0);
  vec_dot(GgmlType::Q2_K, level.q2_K);
  vec_dot(GgmlType::Q3_K, level.q3_K);
  vec_dot(GgmlType::Q4_K, level.q4_K);
  vec_dot(GgmlType::Q5_K, level.q5_K);
  vec_dot(GgmlType::Q6_K, level.q6_K);
  vec_dot(GgmlType::IQ4_NL, level.iq4_nl);
  for (TypeKernels& k : table) {
    if (k.quantize_activations == quantize_activation_row_q8_0)
      k.quantize_activations = level.q8_0_row;
    else if (k.quantize_activations == quantize_activation_row_q8_1)
      k.quantize_activations = level.q8_1_row;
    else if (k.quantize_activations == quantize_row_q8_K)
      k.quantize_activations = level.q8_K_row;
    else if (k.quantize_activations == round_row_to_f16)
      k.quantize_activations = level.f16_row;
    else if (k.quantize_activations == round_row_to_bf16)
      k.quantize_activations = level.bf16_row;
  }
  for (size_t id = 0; id < table.size(); ++id) {
    table[id].gemm = level.gemm(static_cast<uint32_t>(id));
    table[id].gemm_groups16 = level.gemm_groups16(static_cast<uint32_t>(id));
  }
  auto groups16 = [&table](GgmlType type, VecDotFn fn, ArrangeRowFn arrange) {
    table[static_cast<size_t>(type)].vec_dot_groups16 = fn;
    table[static_cast<size_t>(type)].arrange_groups16 = arrange;
  };
  groups16(GgmlType::Q8_0, level.q8_0_groups16, q8_0_row_to_block_groups16);
  groups16(GgmlType::Q4_0, level.q4_0_groups16, q8_0_row_to_block_groups16);
  groups16(GgmlType::Q5_0, level.q5_0_groups16, q8_0_row_to_block_groups16);
  groups16(GgmlType::IQ4_NL, level.iq4_nl_groups16, q8_0_row_to_block_groups16);
  groups16(GgmlType::Q4_1, level.q4_1_groups16, q8_1_row_to_block_groups16);
  groups16(GgmlType::Q5_1, level.q5_1_groups16, q8_1_row_to_block_groups16);
  groups16(GgmlType::Q4_K, level.q4_K_groups16, level.q4_K_arrange);
  groups16(GgmlType::Q5_K, level.q5_K_groups16, level.q4_K_arrange);
  groups16(GgmlType::Q6_K, level.q6_K_groups16, level.q6_K_arrange);
  groups16(GgmlType::Q3_K, level.q3_K_groups16, level.q6_K_arrange);
  groups16(GgmlType::Q2_K, level.q2_K_groups16, level.q6_K_arrange);
}
#endif

Table table_for(SimdLevel level) {
  Table table = scalar_table();
#if defined(__x86_64__)
  // Decode products on kBlockGroups16 at both levels: docs/kernels.md ("Decode: weights in
  // anonymous memory, rearranged at load"; "AVX2: decode in kBlockGroups16").
  if (level == SimdLevel::kAvx2) {
    apply(kAvx2, table);
    // Batched steps of few tokens on kBlockGroups16 rows without a pack, from 2 tokens on
    // (Qwen2.5-1.5B Q4_K_M through the engine at 8 streams 1.8x; docs/kernels.md, "AVX2: batched
    // steps without a pack").
    for (size_t id = 0; id < table.size(); ++id)
      if (const GemmKernels* in_place =
              avx2::gemm_kernels_groups16_in_place(static_cast<uint32_t>(id)))
        table[id].gemm_groups16 = in_place;
  }
  if (level >= SimdLevel::kAvx512) {
    apply(kAvx512, table);
    if (cpu_has_avx512_bf16())
      table[static_cast<size_t>(GgmlType::BF16)].vec_dot = avx512::vec_dot_bf16_dpbf16;
    // IQ4_NL only: VBMI variants of Q5_0 and Q5_1 streamed 896-wide rows about 10% slower on
    // the Intel machine of 2026-12-03 and were removed (bench/RESULTS.md, docs/kernels.md).
    if (cpu_has_avx512_vbmi())
      table[static_cast<size_t>(GgmlType::IQ4_NL)].vec_dot_groups16 =
          avx512_vbmi::vec_dot_iq4_nl_groups16;
    // GFNI: Q2_K +8-26%, Q3_K median +7% streamed on Zen 4, the same bits (docs/kernels.md, "Q3_K
    // and Q2_K decode with GFNI").
    if (cpu_has_gfni()) {
      table[static_cast<size_t>(GgmlType::Q3_K)].vec_dot_groups16 =
          avx512_gfni::vec_dot_q3_K_groups16;
      table[static_cast<size_t>(GgmlType::Q2_K)].vec_dot_groups16 =
          avx512_gfni::vec_dot_q2_K_groups16;
    }
    // Batched steps of few tokens on kBlockGroups16 rows without a pack, from 2 tokens on: Q4_K
    // and Q6_K at 4 tokens 2.3x their decode products on Zen 4, at 16 1.1-1.8x the packs
    // (docs/kernels.md, "Batched steps on kBlockGroups16 without a pack").
    // The AMX level keeps its tiles.
    for (size_t id = 0; id < table.size(); ++id)
      if (const GemmKernels* in_place =
              avx512::gemm_kernels_groups16_in_place(static_cast<uint32_t>(id)))
        table[id].gemm_groups16 = in_place;
  }
  if (level == SimdLevel::kAmx)
    for (size_t id = 0; id < table.size(); ++id) {
      const GemmKernels* tiles = amx::gemm_kernels(static_cast<uint32_t>(id));
      const GemmKernels* layout_tiles = amx::gemm_kernels_groups16(static_cast<uint32_t>(id));
      if (tiles) table[id].gemm = tiles;
      if (layout_tiles) table[id].gemm_groups16 = layout_tiles;
      // Q8_0, Q4_0, Q5_0 and the K-quants Q4_K, Q5_K, Q6_K in kRowGroups16: the tiles take Q8_0's
      // blocks as they lie and the others' without transposes (docs/kernels.md, "Rows interleaved:
      // kRowGroups16", "Q4_K, Q5_K and Q6_K in kRowGroups16").
      table[id].gemm_row_groups16 = amx::gemm_kernels_row_groups16(static_cast<uint32_t>(id));
    }
  // Below AMX, Q8_0's batched steps on kRowGroups16 read the rows as they lie (no pack: 16
  // tokens 1.6-1.9x kBlockGroups16's packs on Zen 4, 2 tokens 1.3-1.8x its decode product), and
  // Q8_0 alone goes to that layout at load, on Intel's CPUs only: on Zen 4 its decode product
  // there streamed ~10% slower than kBlockGroups16's, whole-model decode too; on a Xeon without
  // AMX even, with 16-token steps 1.1-1.5x (docs/kernels.md, "Q8_0 in kRowGroups16 below AMX").
  if (level == SimdLevel::kAvx512)
    table[static_cast<size_t>(GgmlType::Q8_0)].gemm_row_groups16 =
        avx512::gemm_kernels_row_groups16(static_cast<uint32_t>(GgmlType::Q8_0));
  if (level == SimdLevel::kAmx || (level == SimdLevel::kAvx512 && !cpu_is_amd()))
    table[static_cast<size_t>(GgmlType::Q8_0)].vec_dot_row_groups16 =
        avx512::vec_dot_q8_0_row_groups16;
  if (level == SimdLevel::kAmx) {
    table[static_cast<size_t>(GgmlType::Q4_0)].vec_dot_row_groups16 =
        avx512::vec_dot_q4_0_row_groups16;
    table[static_cast<size_t>(GgmlType::Q5_0)].vec_dot_row_groups16 =
        avx512::vec_dot_q5_0_row_groups16;
    table[static_cast<size_t>(GgmlType::Q4_K)].vec_dot_row_groups16 =
        avx512::vec_dot_q4_K_row_groups16;
    table[static_cast<size_t>(GgmlType::Q5_K)].vec_dot_row_groups16 =
        avx512::vec_dot_q5_K_row_groups16;
    table[static_cast<size_t>(GgmlType::Q6_K)].vec_dot_row_groups16 =
        avx512::vec_dot_q6_K_row_groups16;
  }
#else
  (void)level;
#endif
  return table;
}

const Table& table(SimdLevel level) {
  static const std::array<Table, std::size(kSimdLevels)> tables = {
      table_for(SimdLevel::kScalar), table_for(SimdLevel::kAvx2), table_for(SimdLevel::kAvx512),
      table_for(SimdLevel::kAmx)};
  return tables[static_cast<size_t>(level)];
}

}  // namespace

const TypeKernels& type_kernels(GgmlType type, SimdLevel level) {
  static const TypeKernels none{};
  const auto id = static_cast<size_t>(type);
  return id < kMaxTypeId ? table(level)[id] : none;
}

const TypeKernels& type_kernels(GgmlType type) { return type_kernels(type, simd_level()); }

}  // namespace gengyun::kernels
