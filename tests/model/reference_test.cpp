// The forward pass against llama.cpp's outputs in testdata/expected/: every model file, every
// prompt, with the tolerances of testdata/README.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/lora.h"
#include "model/model.h"
#include "model_test_util.h"
#include "testdata.h"

namespace gengyun::model {
namespace {

using ::gengyun::testing::testdata_path;

/// Model names ("qwen2-tiny-q4_k_m") of every expected/*.json.
std::vector<std::string> expected_models() {
  std::vector<std::string> names;
  const std::filesystem::path dir = testdata_path("expected");
  if (!std::filesystem::is_directory(dir)) return names;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// README tolerances for a model's tensor type.
struct Tolerance {
  double logit;       ///< fraction of the largest |logit| at a position
  double min_margin;  ///< reference top-1 minus top-2 above which argmax must agree
};

Tolerance tolerance_for(const std::string& model) {
  if (ends_with(model, "-f32") || ends_with(model, "-f16")) return {2e-3, 0.05};
  if (ends_with(model, "-bf16")) return {1e-2, 0.05};
  return {5e-2, 0.3};
}

int64_t argmax(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

double max_abs(const float* row, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::abs(static_cast<double>(row[i])));
  return m;
}

/// Checks one position's logits against the reference top-5 ([[id, logit], ...], best first):
/// the five values, no other token above the fifth, and the argmax where the margin is clear.
void check_top5(const float* row, int64_t n_vocab, const nlohmann::json& top5, double scale,
                const Tolerance& tol, const std::string& where) {
  const double allowed = tol.logit * scale;
  std::vector<bool> in_top5(n_vocab, false);
  for (const auto& pair : top5) {
    const int id = pair[0].get<int>();
    const double ref = pair[1].get<double>();
    ASSERT_LT(id, n_vocab) << where;
    in_top5[id] = true;
    EXPECT_NEAR(row[id], ref, allowed) << where << " token " << id;
  }
  // One failure per position at most: a wrong forward pass would otherwise report every token.
  const double fifth = top5.back()[1].get<double>();
  int64_t above = 0, first_above = -1;
  for (int64_t id = 0; id < n_vocab; ++id) {
    if (!in_top5[id] && row[id] > fifth + allowed) {
      if (above++ == 0) first_above = id;
    }
  }
  EXPECT_EQ(above, 0) << where << ": " << above << " tokens outside the reference top 5 score above"
                      << " its fifth logit " << fifth << ", e.g. token " << first_above << " at "
                      << (first_above >= 0 ? row[first_above] : 0.0f);
  const double margin = top5[0][1].get<double>() - top5[1][1].get<double>();
  if (margin >= tol.min_margin) {
    EXPECT_EQ(argmax(row, n_vocab), top5[0][0].get<int>()) << where << " (margin " << margin << ")";
  }
}

/// Checks a context's logits against an expected/*.json-format file (`name` for messages):
/// every position's top 5, the last logits where given, and the greedy continuation while its
/// reference margin is clear.
void check_expected_cases(Context& ctx, const nlohmann::json& expected, const std::string& name,
                          const Tolerance& tol, int64_t n_vocab) {
  std::vector<float> logits;
  for (size_t c = 0; c < expected["cases"].size(); ++c) {
    const nlohmann::json& cs = expected["cases"][c];
    const std::vector<int32_t> tokens = cs["tokens"].get<std::vector<int32_t>>();
    const std::string where_case = name + " case " + std::to_string(c);
    ctx.clear();
    ASSERT_TRUE(ctx.eval(tokens, /*all_logits=*/true, logits).ok()) << where_case;
    ASSERT_EQ(logits.size(), tokens.size() * n_vocab);

    const nlohmann::json& top5 = cs["top5_per_position"];
    ASSERT_EQ(top5.size(), tokens.size());
    for (size_t p = 0; p < tokens.size(); ++p) {
      const float* row = logits.data() + p * n_vocab;
      double scale = max_abs(row, n_vocab);
      for (const auto& pair : top5[p]) scale = std::max(scale, std::abs(pair[1].get<double>()));
      check_top5(row, n_vocab, top5[p], scale, tol, where_case + " position " + std::to_string(p));
    }

    if (cs.contains("last_logits")) {
      const std::vector<float> ref = cs["last_logits"].get<std::vector<float>>();
      ASSERT_EQ(static_cast<int64_t>(ref.size()), n_vocab);
      const float* row = logits.data() + (tokens.size() - 1) * n_vocab;
      const double allowed = tol.logit * max_abs(ref.data(), n_vocab);
      int bad = 0;
      for (int64_t i = 0; i < n_vocab && bad < 5; ++i) {
        if (std::abs(row[i] - ref[i]) > allowed) {
          ++bad;
          ADD_FAILURE() << where_case << " last logit " << i << ": " << row[i] << " vs " << ref[i];
        }
      }
    }

    // Greedy: feed the reference's tokens one at a time while its margin is clear.
    const std::vector<int32_t> greedy = cs["greedy"].get<std::vector<int32_t>>();
    const std::vector<double> margins = cs["greedy_margin"].get<std::vector<double>>();
    ASSERT_EQ(greedy.size(), margins.size());
    const float* last = logits.data() + (tokens.size() - 1) * n_vocab;
    std::vector<float> step_logits(last, last + n_vocab);
    for (size_t i = 0; i < greedy.size() && margins[i] >= tol.min_margin; ++i) {
      ASSERT_EQ(argmax(step_logits.data(), n_vocab), greedy[i])
          << where_case << " greedy step " << i;
      const int32_t next = greedy[i];
      ASSERT_TRUE(ctx.eval({&next, 1}, /*all_logits=*/false, step_logits).ok());
      ASSERT_EQ(static_cast<int64_t>(step_logits.size()), n_vocab);
    }
  }
}

// llama.cpp's reference keeps the KV cache in f16; the f32 cache must match as well.
class ReferenceTest : public ::testing::TestWithParam<std::tuple<std::string, KvCacheType>> {};

TEST_P(ReferenceTest, MatchesLlamaCpp) {
  REQUIRE_TESTDATA();
  const std::string name = std::get<0>(GetParam());
  const KvCacheType kv_type = std::get<1>(GetParam());
  std::ifstream in(testdata_path("expected/" + name + ".json"));
  const nlohmann::json expected = nlohmann::json::parse(in);

  std::unique_ptr<Model> model = testing::load_model(name + ".gguf");
  ASSERT_NE(model, nullptr);
  const int64_t n_vocab = model->hparams().n_vocab;
  ASSERT_EQ(n_vocab, expected["n_vocab"].get<int64_t>());

  kernels::ThreadPool pool(1);
  Context ctx(*model, 256, pool, kv_type);
  check_expected_cases(ctx, expected, name, tolerance_for(name), n_vocab);
}

INSTANTIATE_TEST_SUITE_P(AllExpected, ReferenceTest,
                         ::testing::Combine(::testing::ValuesIn(expected_models()),
                                            ::testing::Values(KvCacheType::F16, KvCacheType::F32)),
                         [](const ::testing::TestParamInfo<ReferenceTest::ParamType>& info) {
                           std::string id = std::get<0>(info.param);
                           std::replace_if(
                               id.begin(), id.end(), [](char ch) { return !std::isalnum(ch); },
                               '_');
                           return id + (std::get<1>(info.param) == KvCacheType::F16 ? "_kv_f16"
                                                                                    : "_kv_f32");
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ReferenceTest);

/// Model names ("qwen3moe-tiny-q8_0") of every moe/*.json.
std::vector<std::string> moe_models() {
  std::vector<std::string> names;
  const std::filesystem::path dir = testdata_path("moe");
  if (!std::filesystem::is_directory(dir)) return names;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// Log-softmax of a row of logits, computed in double.
std::vector<float> log_probabilities(const float* logits, int64_t n) {
  const double max = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const double log_sum = max + std::log(sum);
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(logits[i] - log_sum);
  return out;
}

// The mixture-of-experts files against moe/*.json: at every greedy step whose reference margin
// is clear, the 5 most probable tokens' log-probabilities within the README's tolerance (a
// fraction of the largest |logit| at the step), no other token above the fifth, and the
// greedy token; the reference's token is fed back for the next step.
class MoeReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeReferenceTest, MatchesLlamaCpp) {
  REQUIRE_TESTDATA();
  const std::string name = GetParam();
  const Tolerance tol = tolerance_for(name);
  std::ifstream in(testdata_path("moe/" + name + ".json"));
  const nlohmann::json expected = nlohmann::json::parse(in);
  std::unique_ptr<Model> model = testing::load_model(name + ".gguf");
  ASSERT_NE(model, nullptr);
  const int64_t n_vocab = model->hparams().n_vocab;
  kernels::ThreadPool pool(2);
  Context ctx(*model, 256, pool, KvCacheType::F16);
  std::vector<float> logits;
  int checked = 0;
  for (size_t c = 0; c < expected["cases"].size(); ++c) {
    const nlohmann::json& cs = expected["cases"][c];
    const std::vector<int32_t> tokens = cs["tokens"].get<std::vector<int32_t>>();
    const std::vector<int32_t> greedy = cs["greedy"].get<std::vector<int32_t>>();
    const std::vector<double> margins = cs["greedy_margin"].get<std::vector<double>>();
    const nlohmann::json& top5 = cs["top5_logprob_per_step"];
    ASSERT_EQ(greedy.size(), top5.size());
    const std::string where_case = name + " case " + std::to_string(c);
    ctx.clear();
    ASSERT_TRUE(ctx.eval(tokens, /*all_logits=*/false, logits).ok()) << where_case;
    for (size_t i = 0; i < greedy.size() && margins[i] >= tol.min_margin; ++i) {
      ASSERT_EQ(static_cast<int64_t>(logits.size()), n_vocab);
      const std::vector<float> log_p = log_probabilities(logits.data(), n_vocab);
      check_top5(log_p.data(), n_vocab, top5[i], max_abs(logits.data(), n_vocab), tol,
                 where_case + " step " + std::to_string(i));
      ++checked;
      const int32_t next = greedy[i];
      ASSERT_TRUE(ctx.eval({&next, 1}, /*all_logits=*/false, logits).ok());
    }
  }
  EXPECT_GT(checked, 0) << name << ": no step with a clear reference margin";
}

INSTANTIATE_TEST_SUITE_P(AllMoe, MoeReferenceTest, ::testing::ValuesIn(moe_models()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string id = info.param;
                           std::replace_if(
                               id.begin(), id.end(), [](char ch) { return !std::isalnum(ch); },
                               '_');
                           return id;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(MoeReferenceTest);

/// Names ("qwen2-tiny-f32+lora-a-scale0.5") of every lora/*.json.
std::vector<std::string> lora_cases() {
  std::vector<std::string> names;
  const std::filesystem::path dir = testdata_path("lora");
  if (!std::filesystem::is_directory(dir)) return names;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

// lora/<base>+<adapter>[-scaleS].json: the base model with the adapter at scale S (1 when
// absent), against llama.cpp, with the base model's tolerances.
class LoraReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LoraReferenceTest, MatchesLlamaCpp) {
  REQUIRE_TESTDATA();
  const std::string name = GetParam();
  const size_t plus = name.find('+');
  ASSERT_NE(plus, std::string::npos) << name;
  const std::string base = name.substr(0, plus);
  std::string adapter_name = name.substr(plus + 1);
  float scale = 1.0f;
  if (const size_t at = adapter_name.find("-scale"); at != std::string::npos) {
    scale = std::stof(adapter_name.substr(at + 6));
    adapter_name.resize(at);
  }
  // "qwen2-tiny-f32" + "lora-a" -> "qwen2-tiny-lora-a.gguf"
  const std::string family = base.substr(0, base.rfind('-'));
  std::ifstream in(testdata_path("lora/" + name + ".json"));
  const nlohmann::json expected = nlohmann::json::parse(in);

  std::unique_ptr<Model> model = testing::load_model(base + ".gguf");
  ASSERT_NE(model, nullptr);
  Result<std::unique_ptr<LoraAdapter>> adapter = LoraAdapter::load(
      *model, testdata_path("lora/" + family + "-" + adapter_name + ".gguf"), scale);
  ASSERT_TRUE(adapter.ok()) << adapter.error().message;
  const int64_t n_vocab = model->hparams().n_vocab;
  ASSERT_EQ(n_vocab, expected["n_vocab"].get<int64_t>());

  kernels::ThreadPool pool(2);
  Context ctx(*model, 256, pool, KvCacheType::F16);
  ctx.set_adapter(adapter.value().get());
  check_expected_cases(ctx, expected, name, tolerance_for(base), n_vocab);
}

INSTANTIATE_TEST_SUITE_P(AllLora, LoraReferenceTest, ::testing::ValuesIn(lora_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string id = info.param;
                           std::replace_if(
                               id.begin(), id.end(), [](char ch) { return !std::isalnum(ch); },
                               '_');
                           return id;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LoraReferenceTest);

TEST(ReferenceData, CoversEveryArchitectureAndType) {
  REQUIRE_TESTDATA();
  // The README's set: 14 qwen2 types, 3 qwen3, 3 llama, stories260K.
  EXPECT_GE(expected_models().size(), 21u);
  // qwen3moe in f32, q8_0 and q4_k_m.
  EXPECT_GE(moe_models().size(), 3u);
  // Adapters a and b on f32, a on q8_0, a at scale 0.5.
  EXPECT_GE(lora_cases().size(), 4u);
}

}  // namespace
}  // namespace gengyun::model
