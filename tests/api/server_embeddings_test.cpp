// POST /v1/embeddings through the server: every input form, the vectors against llama.cpp's
// (testdata/embeddings) and bit for bit against model::Context::embed normalized, `dimensions`,
// base64, usage and the ledger row at the input price, and every refusal with its `param`.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "eventually.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;

constexpr const char* kModel = "qwen3-embed-tiny";
constexpr int32_t kEos = 1993;  // <|endoftext|>, appended (tokenizer.ggml.add_eos_token)

json reference() {
  std::ifstream in(gengyun::testing::testdata_path("embeddings/qwen3-embed-tiny-f32.json"));
  return json::parse(in);
}

/// The unit-length vector of `tokens` (EOS appended here) by the single-sequence path of the
/// model layer, truncated to `dimensions` (0: all) first.
std::vector<float> direct_embedding(std::vector<int32_t> tokens, int64_t dimensions = 0) {
  auto file = gguf::File::open(gengyun::testing::testdata_path("models/qwen3-embed-tiny-f32.gguf"));
  EXPECT_TRUE(file.ok());
  auto model = model::Model::load(std::make_shared<const gguf::File>(std::move(file.value())));
  EXPECT_TRUE(model.ok());
  kernels::ThreadPool pool(1);
  model::Context ctx(*model.value(), 256, pool);
  tokens.push_back(kEos);
  std::vector<float> v;
  EXPECT_TRUE(ctx.embed(tokens, v).ok());
  EXPECT_TRUE(model::normalize_embedding(v, dimensions).ok());
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

/// Decodes standard base64 (a slow obvious reference: each character's 6 bits in turn).
std::vector<float> decode_base64_floats(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> bytes;
  uint32_t bits = 0;
  int n_bits = 0;
  for (char c : text) {
    if (c == '=') break;
    bits = (bits << 6) | static_cast<uint32_t>(alphabet.find(c));
    n_bits += 6;
    if (n_bits >= 8) {
      n_bits -= 8;
      bytes.push_back(static_cast<uint8_t>(bits >> n_bits));
    }
  }
  EXPECT_EQ(bytes.size() % 4, 0u);
  std::vector<float> out;
  for (size_t i = 0; i + 3 < bytes.size(); i += 4)
    out.push_back(std::bit_cast<float>(static_cast<uint32_t>(bytes[i]) | bytes[i + 1] << 8 |
                                       bytes[i + 2] << 16 |
                                       static_cast<uint32_t>(bytes[i + 3]) << 24));
  return out;
}

class EmbeddingsTest : public ServerTest {
 protected:
  /// The 200 body of POST /v1/embeddings with `body`, its shape checked.
  json embed(const json& body) {
    const auto r = post("/v1/embeddings", body, key_);
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    const json out = json::parse(r->body, nullptr, false);
    EXPECT_EQ(out.value("object", ""), "list") << r->body;
    EXPECT_EQ(out.value("model", ""), body["model"]);
    EXPECT_TRUE(r->has_header("x-request-id"));
    for (size_t i = 0; i < out["data"].size(); ++i) {
      EXPECT_EQ(out["data"][i]["object"], "embedding");
      EXPECT_EQ(out["data"][i]["index"], i);
    }
    return out;
  }
};

TEST_F(EmbeddingsTest, TextsGiveLlamaCppsVectorsAtUnitLengthBitForBitWithTheModelLayer) {
  const json ref = reference();
  json inputs = json::array();
  int want_tokens = 0;
  for (const json& cs : ref["cases"]) {
    inputs.push_back(cs["input"]);
    want_tokens += static_cast<int>(cs["tokens"].size()) + 1;
  }
  const json body = embed({{"model", kModel}, {"input", inputs}, {"encoding_format", "float"}});
  ASSERT_EQ(body["data"].size(), ref["cases"].size());
  EXPECT_EQ(body["usage"], json({{"prompt_tokens", want_tokens}, {"total_tokens", want_tokens}}));
  for (size_t i = 0; i < ref["cases"].size(); ++i) {
    const json& cs = ref["cases"][i];
    const std::vector<float> got = body["data"][i]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(got.size(), 256u);
    EXPECT_NEAR(dot(got, got), 1.0, 1e-6);
    std::vector<float> want = cs["embedding"].get<std::vector<float>>();
    ASSERT_TRUE(model::normalize_embedding(want).ok());
    EXPECT_GE(dot(got, want), 0.99999) << cs["input"];
    EXPECT_EQ(got, direct_embedding(cs["tokens"].get<std::vector<int32_t>>())) << cs["input"];
  }
  // One string alone: the same vector as in the batch.
  const json one = embed({{"model", kModel}, {"input", ref["cases"][1]["input"]}});
  ASSERT_EQ(one["data"].size(), 1u);
  // The SDKs' default is base64; without encoding_format the answer is floats.
  EXPECT_EQ(one["data"][0]["embedding"], body["data"][1]["embedding"]);
}

TEST_F(EmbeddingsTest, TokenIdsGiveTheVectorOfTheirText) {
  const json ref = reference();
  const json& cs = ref["cases"][0];
  const json text = embed({{"model", kModel}, {"input", cs["input"]}});
  const json flat = embed({{"model", kModel}, {"input", cs["tokens"]}});
  const json nested =
      embed({{"model", kModel}, {"input", json::array({cs["tokens"], json::array({34, 75})})}});
  ASSERT_EQ(flat["data"].size(), 1u);
  ASSERT_EQ(nested["data"].size(), 2u);
  EXPECT_EQ(flat["data"][0]["embedding"], text["data"][0]["embedding"]);
  EXPECT_EQ(nested["data"][0]["embedding"], text["data"][0]["embedding"]);
  EXPECT_EQ(nested["data"][1]["embedding"].get<std::vector<float>>(), direct_embedding({34, 75}));
  EXPECT_EQ(nested["usage"]["prompt_tokens"], static_cast<int>(cs["tokens"].size()) + 1 + 3);
}

TEST_F(EmbeddingsTest, DimensionsTruncateThenRenormalize) {
  const json ref = reference();
  const json& cs = ref["cases"][2];
  const json body =
      embed({{"model", kModel}, {"input", cs["input"]}, {"dimensions", 64}, {"user", "u-1"}});
  const std::vector<float> got = body["data"][0]["embedding"].get<std::vector<float>>();
  ASSERT_EQ(got.size(), 64u);
  EXPECT_NEAR(dot(got, got), 1.0, 1e-6);
  EXPECT_EQ(got, direct_embedding(cs["tokens"].get<std::vector<int32_t>>(), 64));
  const json all = embed({{"model", kModel}, {"input", cs["input"]}, {"dimensions", 256}});
  EXPECT_EQ(all["data"][0]["embedding"].get<std::vector<float>>(),
            direct_embedding(cs["tokens"].get<std::vector<int32_t>>()));
}

TEST_F(EmbeddingsTest, Base64IsTheLittleEndianFloat32sOfTheFloatAnswer) {
  const json input = json::array({"Cloud computing lowers the cost of AI.", "ok"});
  const json floats = embed({{"model", kModel}, {"input", input}, {"dimensions", 7}});
  const json base64 = embed(
      {{"model", kModel}, {"input", input}, {"dimensions", 7}, {"encoding_format", "base64"}});
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(base64["data"][i]["embedding"].is_string());
    // 7 floats: 28 bytes, 40 characters with one '=' of padding.
    const std::string text = base64["data"][i]["embedding"];
    EXPECT_EQ(text.size(), 40u);
    EXPECT_EQ(text.back(), '=');
    EXPECT_EQ(decode_base64_floats(text), floats["data"][i]["embedding"].get<std::vector<float>>());
  }
  EXPECT_EQ(base64["usage"], floats["usage"]);
}

TEST_F(EmbeddingsTest, MeteredAtTheInputPrice) {
  // $3 per million input tokens (output $7: never charged): 3 micro-dollars per token.
  ASSERT_TRUE(store_->set_price(kModel, {3'000'000, 1'000'000, 7'000'000}, {}).ok());
  const auto r = post("/v1/embeddings",
                      {{"model", kModel}, {"input", {"a b", "c"}}, {"user", "end-user-9"}}, key_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const int tokens = json::parse(r->body)["usage"]["prompt_tokens"];
  EXPECT_EQ(tokens, static_cast<int>(model(kModel)->tokenize("a b", false, false).size() + 1 +
                                     model(kModel)->tokenize("c", false, false).size() + 1));
  const auto ledger = wait_for_rows(1);
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].endpoint, "/v1/embeddings");
  EXPECT_EQ(ledger[0].model, kModel);
  EXPECT_EQ(ledger[0].request_id, r->get_header_value("x-request-id"));
  EXPECT_EQ(ledger[0].end_user, "end-user-9");
  EXPECT_EQ(ledger[0].prompt_tokens, tokens);
  EXPECT_EQ(ledger[0].completion_tokens, 0);
  EXPECT_EQ(ledger[0].status, "ok");
  EXPECT_EQ(ledger[0].cost_micro_usd, 3 * tokens);

  const auto anonymous = post("/v1/embeddings", {{"model", kModel}, {"input", "a"}}, "");
  expect_error(anonymous, 401, "invalid_api_key");
}

TEST_F(EmbeddingsTest, BadRequestsAre400sNamingTheirParam) {
  const auto expect_400 = [&](const json& body, const std::string& param,
                              const std::string& message) {
    const json error = expect_error(post("/v1/embeddings", body, key_), 400, nullptr);
    EXPECT_EQ(error.value("param", json()), param) << body.dump();
    EXPECT_EQ(error.value("message", ""), message) << body.dump();
  };
  expect_400({{"input", "a"}}, "model", "you must provide a model parameter");
  expect_400({{"model", kModel}}, "input", "you must provide an input parameter");
  expect_400({{"model", kModel}, {"input", ""}}, "input", "input must not be an empty string");
  expect_400({{"model", kModel}, {"input", json::array()}}, "input",
             "input must not be an empty array");
  expect_400({{"model", kModel}, {"input", {"a", ""}}}, "input",
             "input[1] must not be an empty string");
  expect_400({{"model", kModel}, {"input", {"a", 5}}}, "input",
             "input[1] must be a string, as input[0], got 5");
  // input[0] itself neither a string nor token ids (QA: it was told to be "as input[0]").
  for (const json& first : {json(true), json(nullptr), json::object()})
    expect_400(
        {{"model", kModel}, {"input", {first, "a"}}}, "input",
        "input[0] must be a string, a token id or an array of token ids, got " + first.dump());
  expect_400({{"model", kModel}, {"input", {json::array({1}), "a"}}}, "input",
             "input[1] must be an array of token ids, as input[0], got \"a\"");
  expect_400({{"model", kModel}, {"input", {json::array({1}), json::array()}}}, "input",
             "input[1] must not be an empty array");
  expect_400({{"model", kModel}, {"input", {1, -2}}}, "input",
             "input must hold token ids (integers >= 0), got -2");
  expect_400({{"model", kModel}, {"input", {1, 2000}}}, "input",
             "input holds the token id 2000, outside the vocabulary (0..1999)");
  // Beyond int32 too (QA: "must hold token ids (integers >= 0), got 2147483648").
  expect_400({{"model", kModel}, {"input", {1, 2147483648ll}}}, "input",
             "input holds the token id 2147483648, outside the vocabulary");
  expect_400({{"model", kModel}, {"input", {json::array({1}), {18446744073709551615ull}}}},
             "input", "input[1] holds the token id 18446744073709551615, outside the vocabulary");
  expect_400({{"model", kModel}, {"input", 7}}, "input",
             "input must be a string, an array of strings, an array of token ids or an array of "
             "arrays of token ids, got 7");
  expect_400({{"model", kModel}, {"input", std::vector<std::string>(2049, "a")}}, "input",
             "input holds 2049 inputs; at most 2048 are allowed");
  expect_400({{"model", kModel}, {"input", "a"}, {"encoding_format", "int8"}}, "encoding_format",
             "encoding_format must be \"float\" or \"base64\", got \"int8\"");
  expect_400({{"model", kModel}, {"input", "a"}, {"dimensions", 0}}, "dimensions",
             "dimensions must be an integer >= 1, got 0");
  expect_400({{"model", kModel}, {"input", "a"}, {"dimensions", 18446744073709551615ull}},
             "dimensions",
             "dimensions is out of range: it must be an integer in [1, 9223372036854775807], got "
             "18446744073709551615");
  expect_400({{"model", kModel}, {"input", "a"}, {"dimensions", 1e19}}, "dimensions",
             "dimensions is out of range: it must be an integer in [1, 9223372036854775807], got "
             "10000000000000000000");
  expect_400({{"model", kModel}, {"input", "a"}, {"dimensions", 257}}, "dimensions",
             "dimensions must be between 1 and 256 for the model 'qwen3-embed-tiny', got 257");
  expect_400({{"model", kModel}, {"input", "a"}, {"user", 5}}, "user",
             "user must be a string, got 5");
  expect_400({{"model", kModel}, {"input", "a"}, {"truncate", true}}, "truncate",
             "Unrecognized request argument supplied: truncate");
  const json keep_alive = expect_error(
      post("/v1/embeddings", {{"model", kModel}, {"input", "a"}, {"keep_alive", "soon"}}, key_),
      400, nullptr);
  EXPECT_EQ(keep_alive["param"], "keep_alive");
  const int n_ctx = model(kModel)->n_ctx();
  const json too_long = expect_error(
      post("/v1/embeddings",
           {{"model", kModel}, {"input", {json::array({1}), std::vector<int>(n_ctx, 34)}}}, key_),
      400, "context_length_exceeded");
  EXPECT_EQ(too_long["param"], "input");
  EXPECT_EQ(too_long["message"], "This model's maximum context length is " + std::to_string(n_ctx) +
                                     " tokens. However, your input[1] resulted in " +
                                     std::to_string(n_ctx + 1) + " tokens. Please shorten it.");
  expect_error(post("/v1/embeddings", {{"model", "nope"}, {"input", "a"}}, key_), 404,
               "model_not_found");
  // Each refusal wrote its own row, none billed.
  for (const platform::UsageRecord& row : wait_for_rows(19)) {
    EXPECT_EQ(row.status, "error");
    EXPECT_EQ(row.cost_micro_usd, 0);
  }
}

// The embedding model goes through the registry as any model: loaded on demand, held by the
// request, unloaded after the request's keep_alive.
TEST_F(EmbeddingsTest, KeepAliveZeroUnloadsTheEmbeddingModelAfterTheRequest) {
  auto r = post("/v1/embeddings", {{"model", kModel}, {"input", "a"}, {"keep_alive", 0}}, key_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(eventually(
      [&] { return registry_->find(kModel)->state == deploy::ModelState::Available; }));
}

TEST_F(EmbeddingsTest, ChatModelsRefuseEmbeddingsAndEmbeddingModelsRefuseGeneration) {
  const json error = expect_error(
      post("/v1/embeddings", {{"model", "qwen2-tiny"}, {"input", "a"}}, key_), 400, nullptr);
  EXPECT_EQ(error["param"], "model");
  EXPECT_EQ(error["message"],
            "the model 'qwen2-tiny' generates text: it is not an embedding model (its GGUF has no "
            "pooling_type); use /v1/chat/completions or /v1/completions");
  const json chat = expect_error(
      post("/v1/chat/completions",
           {{"model", kModel}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}, key_),
      400, nullptr);
  EXPECT_EQ(chat["param"], "model");
  EXPECT_EQ(chat["message"],
            "the model 'qwen3-embed-tiny' is an embedding model: it serves /v1/embeddings, not "
            "/v1/chat/completions");
  const json text = expect_error(
      post("/v1/completions", {{"model", kModel}, {"prompt", "hi"}}, key_), 400, nullptr);
  EXPECT_EQ(text["message"],
            "the model 'qwen3-embed-tiny' is an embedding model: it serves /v1/embeddings, not "
            "/v1/completions");
}

}  // namespace
}  // namespace gengyun::api::testing
