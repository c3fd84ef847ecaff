// gengyun synth: the real models' shapes (parameter counts as published), small synthetic
// models written, read back value by value and run, and the tokenizer fitted to the embedding.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "convert/quantize_model.h"
#include "convert/synth_model.h"
#include "convert/synth_shape.h"
#include "convert/synth_vocab.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "kernels/float16.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "testdata.h"

namespace gengyun::convert {
namespace {

using gengyun::testing::testdata_path;

constexpr int64_t kQwenVocabTokens = 151669;  // 151643 BPE tokens + 26 added tokens
constexpr int64_t kQwenFirstAdded = 151643;   // <|endoftext|>

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("gengyun_synth_test_" + std::to_string(getpid()) + "_" + name))
      .string();
}

/// Removes the file when the test ends.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& name) : path(temp_path(name)) {}
  ~TempFile() { std::filesystem::remove(path); }
};

int64_t parameter_count(const SynthShape& shape) {
  int64_t n = 0;
  for (const SynthTensor& t : synth_tensors(shape)) {
    int64_t elements = 1;
    for (int64_t d : t.ne) elements *= d;
    n += elements;
  }
  return n;
}

TEST(SynthShape, ParameterCountsAreThoseOfTheRealModels) {
  // Parameter counts of the Hugging Face checkpoints (safetensors metadata).
  EXPECT_EQ(parameter_count(*find_synth_shape("qwen2.5-0.5b")), 494032768);
  EXPECT_EQ(parameter_count(*find_synth_shape("qwen2.5-1.5b")), 1543714304);
  EXPECT_EQ(parameter_count(*find_synth_shape("qwen3-0.6b")), 596049920);
  EXPECT_EQ(parameter_count(*find_synth_shape("llama-3.2-1b")), 1235814400);
  EXPECT_EQ(parameter_count(*find_synth_shape("qwen3-30b-a3b")), 30532122624);
  EXPECT_EQ(parameter_count(*find_synth_shape("qwen3-embedding-0.6b")), 595776512);
  EXPECT_EQ(synth_shapes().size(), 6u);
  EXPECT_EQ(find_synth_shape("qwen2.5-7b"), nullptr);
}

TEST(SynthShape, HyperParametersOfQwen25HalfB) {
  const SynthShape& s = *find_synth_shape("qwen2.5-0.5b");
  EXPECT_EQ(s.arch, "qwen2");
  EXPECT_EQ(s.n_embd, 896);
  EXPECT_EQ(s.n_layer, 24);
  EXPECT_EQ(s.n_head, 14);
  EXPECT_EQ(s.n_head_kv, 2);
  EXPECT_EQ(s.head_dim, 64);
  EXPECT_EQ(s.n_ff, 4864);
  EXPECT_EQ(s.n_vocab, 151936);
  EXPECT_EQ(s.n_ctx_train, 32768);
  EXPECT_EQ(s.rope_freq_base, 1e6f);
  EXPECT_TRUE(s.qkv_bias);
  EXPECT_TRUE(s.tied_output);
}

TEST(SynthTensors, NamesAndShapesOfQwen3) {
  const std::vector<SynthTensor> t = synth_tensors(*find_synth_shape("qwen3-0.6b"));
  ASSERT_EQ(t.size(), 1u + 28 * 11 + 1);
  EXPECT_EQ(t[0].name, "token_embd.weight");
  EXPECT_EQ(t[0].ne, (std::vector<int64_t>{1024, 151936}));
  EXPECT_EQ(t[2].name, "blk.0.attn_q.weight");
  EXPECT_EQ(t[2].ne, (std::vector<int64_t>{1024, 2048}));
  EXPECT_EQ(t[5].name, "blk.0.attn_q_norm.weight");
  EXPECT_EQ(t[5].ne, (std::vector<int64_t>{128}));
  EXPECT_EQ(t[5].fill, SynthFill::Ones);
  EXPECT_EQ(t[7].name, "blk.0.attn_output.weight");
  EXPECT_EQ(t[7].ne, (std::vector<int64_t>{2048, 1024}));
  EXPECT_EQ(t.back().name, "output_norm.weight");
}

TEST(SynthTensors, NamesAndShapesOfQwen3MoeAndItsFirstLayers) {
  const SynthShape& full = *find_synth_shape("qwen3-30b-a3b");
  Result<SynthShape> two = with_layers(full, 2);
  ASSERT_TRUE(two.ok()) << two.error().message;
  const std::vector<SynthTensor> t = synth_tensors(two.value());
  // token_embd; per layer attn_norm, q, k, v, q_norm, k_norm, output, ffn_norm, router and
  // three stacked expert tensors; output_norm and the untied output.
  ASSERT_EQ(t.size(), 1u + 2 * 12 + 2);
  EXPECT_EQ(t[9].name, "blk.0.ffn_gate_inp.weight");
  EXPECT_EQ(t[9].ne, (std::vector<int64_t>{2048, 128}));
  EXPECT_EQ(t[10].name, "blk.0.ffn_gate_exps.weight");
  EXPECT_EQ(t[10].ne, (std::vector<int64_t>{2048, 768, 128}));
  EXPECT_EQ(t[11].name, "blk.0.ffn_up_exps.weight");
  EXPECT_EQ(t[11].ne, (std::vector<int64_t>{2048, 768, 128}));
  EXPECT_EQ(t[12].name, "blk.0.ffn_down_exps.weight");
  EXPECT_EQ(t[12].ne, (std::vector<int64_t>{768, 2048, 128}));
  EXPECT_EQ(t.back().name, "output.weight");
  EXPECT_EQ(t.back().ne, (std::vector<int64_t>{2048, 151936}));

  for (int bad : {0, -1, 49}) {
    Result<SynthShape> r = with_layers(full, bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message, "--layers " + std::to_string(bad) +
                                     " is outside [1, 48], the layers of qwen3-30b-a3b");
  }
}

TEST(SynthMatrixValue, HasTheStatedMeanAndDeviationAndDependsOnSeedAndName) {
  const int64_t n_in = 256, n = 200000;
  double sum = 0, sum_sq = 0, max_abs = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = synth_matrix_value(7, "w", n_in, i);
    sum += v;
    sum_sq += v * v;
    max_abs = std::max(max_abs, std::abs(v));
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01 / std::sqrt(n_in));
  EXPECT_NEAR(std::sqrt(sum_sq / n), 1.0 / std::sqrt(n_in), 0.01 / std::sqrt(n_in));
  EXPECT_LE(max_abs, std::sqrt(3.0 / n_in));
  EXPECT_EQ(synth_matrix_value(7, "w", n_in, 5), synth_matrix_value(7, "w", n_in, 5));
  EXPECT_NE(synth_matrix_value(7, "w", n_in, 5), synth_matrix_value(8, "w", n_in, 5));
  EXPECT_NE(synth_matrix_value(7, "w", n_in, 5), synth_matrix_value(7, "v", n_in, 5));
}

/// A qwen2 shape small enough for a test, with the real Qwen embedding row count.
SynthShape small_qwen2() {
  return SynthShape{.name = "small-qwen2", .arch = "qwen2", .n_embd = 32, .n_layer = 2, .n_head = 4,
                    .n_head_kv = 2, .head_dim = 8, .n_ff = 64, .n_vocab = 151936, .n_ctx_train = 256,
                    .rope_freq_base = 1e6f, .rms_eps = 1e-6f, .qkv_bias = true};
}

const std::string& token(const gguf::File& f, int64_t id) {
  return *f.get_array("tokenizer.ggml.tokens")->items.at(id).as_string();
}
int64_t token_type(const gguf::File& f, int64_t id) {
  return *f.get_array("tokenizer.ggml.token_type")->items.at(id).as_int();
}

TEST(SynthModel, AnEmbeddingShapeWritesItsPoolingAndEos) {
  REQUIRE_TESTDATA();
  auto vocab = gguf::File::open(testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  EXPECT_EQ(find_synth_shape("qwen3-embedding-0.6b")->pooling_type, 3);
  SynthShape shape = small_qwen2();
  shape.pooling_type = 3;
  shape.n_vocab = kQwenVocabTokens;
  TempFile out("small_embedding_f32.gguf");
  kernels::ThreadPool pool(2);
  ASSERT_TRUE(write_synth_model(shape, "f32", vocab.value(), 1, out.path, pool, {}).ok());
  auto f = gguf::File::open(out.path);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->get_int("qwen2.pooling_type"), 3);
  EXPECT_EQ(f->get_bool("tokenizer.ggml.add_eos_token"), true);
  // A generating shape writes neither.
  EXPECT_EQ(vocab->find("tokenizer.ggml.add_eos_token"), nullptr);
  shape.pooling_type = 0;
  ASSERT_TRUE(write_synth_model(shape, "f32", vocab.value(), 1, out.path, pool, {}).ok());
  auto g = gguf::File::open(out.path);
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->find("qwen2.pooling_type"), nullptr);
  EXPECT_EQ(g->find("tokenizer.ggml.add_eos_token"), nullptr);
}

TEST(SynthModel, SmallQwen2ReadsBackExactlyAndRuns) {
  REQUIRE_TESTDATA();
  auto vocab = gguf::File::open(testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  TempFile out("small_qwen2_f16.gguf");
  kernels::ThreadPool pool(2);
  const SynthShape shape = small_qwen2();
  uint64_t last_done = 0, last_total = 0;
  Result<void> written = write_synth_model(shape, "f16", vocab.value(), 42, out.path, pool,
                                           [&](std::string_view stage, uint64_t done, uint64_t total) {
                                             EXPECT_EQ(stage, "random weights");
                                             EXPECT_GT(done, last_done);
                                             last_done = done;
                                             last_total = total;
                                           });
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(last_done, last_total);

  auto opened = gguf::File::open(out.path);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto file = std::make_shared<const gguf::File>(std::move(opened).value());
  const gguf::File& f = *file;
  EXPECT_EQ(f.get_string("general.architecture"), "qwen2");
  EXPECT_EQ(f.get_int("qwen2.embedding_length"), 32);
  EXPECT_EQ(f.get_int("qwen2.attention.head_count_kv"), 2);
  EXPECT_EQ(f.get_int("qwen2.context_length"), 256);
  EXPECT_EQ(f.get_int("general.file_type"), 1);
  EXPECT_EQ(f.find("qwen2.attention.key_length"), nullptr);  // 32 / 4 = 8 = head_dim

  // Tokenizer: every tokenizer.* key of the vocabulary, the token list padded.
  for (const auto& [key, value] : vocab->metadata()) {
    if (!key.starts_with("tokenizer.")) continue;
    const gguf::Value* copied = f.find(key);
    ASSERT_NE(copied, nullptr) << key;
    if (key != "tokenizer.ggml.tokens" && key != "tokenizer.ggml.token_type") {
      EXPECT_TRUE(*copied == value) << key;
    }
  }
  ASSERT_EQ(f.get_array("tokenizer.ggml.tokens")->items.size(), 151936u);
  ASSERT_EQ(f.get_array("tokenizer.ggml.token_type")->items.size(), 151936u);
  for (int64_t id : {int64_t{0}, int64_t{1000}, kQwenFirstAdded, kQwenVocabTokens - 1}) {
    EXPECT_EQ(token(f, id), token(vocab.value(), id));
    EXPECT_EQ(token_type(f, id), token_type(vocab.value(), id));
  }
  EXPECT_EQ(token(f, kQwenVocabTokens), "[PAD151669]");
  EXPECT_EQ(token(f, 151935), "[PAD151935]");
  EXPECT_EQ(token_type(f, 151935), kTokenTypeUnused);

  // Tensors: shapes and types, then values.
  const std::vector<SynthTensor> expected = synth_tensors(shape);
  ASSERT_EQ(f.tensors().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const gguf::TensorInfo& t = f.tensors()[i];
    EXPECT_EQ(t.name, expected[i].name);
    EXPECT_EQ(t.ne, expected[i].ne);
    EXPECT_EQ(t.type, expected[i].ne.size() == 1 ? gguf::GgmlType::F32 : gguf::GgmlType::F16) << t.name;
  }
  const gguf::TensorInfo* wk = f.find_tensor("blk.1.attn_k.weight");
  ASSERT_NE(wk, nullptr);
  const auto* halves = reinterpret_cast<const uint16_t*>(wk->data);
  for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{31}, int64_t{32}, wk->n_elements() - 1})
    EXPECT_EQ(halves[i], kernels::fp32_to_fp16(synth_matrix_value(42, "blk.1.attn_k.weight", 32, i))) << i;
  const auto* norm = reinterpret_cast<const float*>(f.find_tensor("blk.0.ffn_norm.weight")->data);
  const auto* bias = reinterpret_cast<const float*>(f.find_tensor("blk.0.attn_q.bias")->data);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(norm[i], 1.0f);
    EXPECT_EQ(bias[i], 0.0f);
  }

  // The model loads and gives finite logits over the padded vocabulary.
  auto loaded = model::Model::load(file);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded.value()->hparams().n_vocab, 151936);
  model::Context ctx(*loaded.value(), 16, pool);
  std::vector<float> logits;
  const std::vector<int32_t> tokens = {9707, 11, 1879, 151935};
  ASSERT_TRUE(ctx.eval(tokens, false, logits).ok());
  ASSERT_EQ(logits.size(), 151936u);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(SynthModel, QuantizedIsTheQuantizerAppliedToTheF32Model) {
  REQUIRE_TESTDATA();
  auto vocab = gguf::File::open(testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  SynthShape shape = small_qwen2();
  shape.n_vocab = 1000;
  kernels::ThreadPool pool(2);
  TempFile f32("quant_src_f32.gguf"), by_hand("quant_by_hand.gguf"), synth("quant_synth.gguf");
  ASSERT_TRUE(write_synth_model(shape, "F32", vocab.value(), 3, f32.path, pool).ok());
  auto quantized = quantize_model(f32.path, by_hand.path, QuantizeType::Q8_0, 1);
  ASSERT_TRUE(quantized.ok()) << quantized.error().message;
  std::set<std::string> stages;
  uint64_t quantized_bytes = 0, f32_bytes = 0;
  Result<void> written = write_synth_model(shape, "q8_0", vocab.value(), 3, synth.path, pool,
                                           [&](std::string_view stage, uint64_t done, uint64_t total) {
                                             stages.insert(std::string(stage));
                                             if (stage == "quantize") quantized_bytes = done;
                                             f32_bytes = total;
                                           });
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(stages, (std::set<std::string>{"random weights", "quantize"}));
  EXPECT_EQ(quantized_bytes, f32_bytes);
  EXPECT_EQ(file_bytes(synth.path), file_bytes(by_hand.path));
  EXPECT_FALSE(std::filesystem::exists(synth.path + ".f32.tmp"));

  auto opened = gguf::File::open(synth.path);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->get_int("general.file_type"), 7);  // LLAMA_FTYPE_MOSTLY_Q8_0
  EXPECT_EQ(opened->find_tensor("blk.0.ffn_up.weight")->type, gguf::GgmlType::Q8_0);
}

// A quantized synth holds its output's temporary (OUT.tmp, locked as the GGUF writer locks it)
// from its start, through the random weights it writes elsewhere first: a second write of the
// same output meanwhile is refused at once (QA: both runs did their random weights, and one
// failed at the end); once done, no temporary is left.
TEST(SynthModel, AQuantizedSynthHoldsItsOutputFromItsStart) {
  REQUIRE_TESTDATA();
  auto vocab = gguf::File::open(testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  SynthShape shape = small_qwen2();
  shape.n_vocab = 1000;
  kernels::ThreadPool pool(1);
  TempFile out("claimed.gguf"), other("claimed_other.gguf");
  int checked = 0;
  Result<void> written = write_synth_model(
      shape, "q8_0", vocab.value(), 3, out.path, pool,
      [&](std::string_view stage, uint64_t, uint64_t) {
        if (stage != "random weights" || checked++ > 0) return;
        const int fd = ::open((out.path + ".tmp").c_str(), O_RDONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0) << "no temporary during the random weights";
        EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);
        EXPECT_EQ(errno, EWOULDBLOCK);
        ::close(fd);
        Result<void> second =
            write_synth_model(shape, "q8_0", vocab.value(), 3, out.path, pool, {});
        ASSERT_FALSE(second.ok());
        EXPECT_EQ(second.error().message, out.path + ": another process is writing it (" +
                                              out.path +
                                              ".tmp is locked); wait for it or write elsewhere");
      });
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_GT(checked, 0);
  EXPECT_FALSE(std::filesystem::exists(out.path + ".tmp"));
  ASSERT_TRUE(write_synth_model(shape, "q8_0", vocab.value(), 3, other.path, pool).ok());
  EXPECT_EQ(file_bytes(out.path), file_bytes(other.path));
}

// The F32 files a killed run of the same output left (OUT.f32.XXXXXX and its .tmp: SIGKILL
// removes nothing) are removed by the next quantized synth of that output, once it holds the
// output; other files beside it are left (QA: gigabytes no later run removed).
TEST(SynthModel, AQuantizedSynthRemovesTheF32FilesOfAKilledRunOfItsOutput) {
  REQUIRE_TESTDATA();
  auto vocab = gguf::File::open(testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  SynthShape shape = small_qwen2();
  shape.n_vocab = 1000;
  kernels::ThreadPool pool(1);
  TempFile out("orphans.gguf");
  const std::vector<std::string> orphans = {out.path + ".f32.Ab3dE9", out.path + ".f32.Zz0000.tmp"};
  const std::vector<std::string> kept = {out.path + ".f32.notes", out.path + ".f32.Ab3dE9.bak",
                                         temp_path("orphans_other.gguf.f32.Ab3dE9")};
  for (const std::string& file : orphans) std::ofstream(file) << "left by a killed run";
  for (const std::string& file : kept) std::ofstream(file) << "not synth's";
  ASSERT_TRUE(write_synth_model(shape, "q8_0", vocab.value(), 3, out.path, pool).ok());
  for (const std::string& file : orphans) {
    EXPECT_FALSE(std::filesystem::exists(file)) << file;
    std::filesystem::remove(file);
  }
  for (const std::string& file : kept) {
    EXPECT_TRUE(std::filesystem::exists(file)) << file;
    std::filesystem::remove(file);
  }
}

TEST(SynthModel, SameSeedSameFileOtherSeedOtherWeights) {
  REQUIRE_TESTDATA();
  auto vocab = gguf::File::open(testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  SynthShape shape = small_qwen2();
  shape.n_vocab = 1000;  // shrunk: keeps the test fast
  kernels::ThreadPool one(1), two(2);
  TempFile a("seed_a.gguf"), b("seed_b.gguf"), c("seed_c.gguf");
  ASSERT_TRUE(write_synth_model(shape, "F32", vocab.value(), 5, a.path, one).ok());
  ASSERT_TRUE(write_synth_model(shape, "F32", vocab.value(), 5, b.path, two).ok());
  ASSERT_TRUE(write_synth_model(shape, "F32", vocab.value(), 6, c.path, two).ok());
  const std::vector<char> bytes_a = file_bytes(a.path);
  EXPECT_FALSE(bytes_a.empty());
  EXPECT_EQ(bytes_a, file_bytes(b.path));
  EXPECT_EQ(bytes_a.size(), file_bytes(c.path).size());
  EXPECT_NE(bytes_a, file_bytes(c.path));
}

TEST(SynthModel, Qwen3LlamaAndQwen3MoeHyperParametersLoad) {
  REQUIRE_TESTDATA();
  auto vocab = gguf::File::open(testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  kernels::ThreadPool pool(2);
  SynthShape qwen3{.name = "small-qwen3", .arch = "qwen3", .n_embd = 32, .n_layer = 1, .n_head = 4,
                   .n_head_kv = 2, .head_dim = 16, .n_ff = 64, .n_vocab = 512, .n_ctx_train = 128,
                   .rope_freq_base = 1e6f, .rms_eps = 1e-6f, .qk_norm = true};
  SynthShape llama{.name = "small-llama", .arch = "llama", .n_embd = 64, .n_layer = 1, .n_head = 4,
                   .n_head_kv = 1, .head_dim = 16, .n_ff = 96, .n_vocab = 512, .n_ctx_train = 128,
                   .rope_freq_base = 5e5f, .rms_eps = 1e-5f, .tied_output = false};
  SynthShape moe{.name = "small-qwen3moe", .arch = "qwen3moe", .n_embd = 32, .n_layer = 2,
                 .n_head = 4, .n_head_kv = 2, .head_dim = 16, .n_ff = 96, .n_vocab = 512,
                 .n_ctx_train = 128, .rope_freq_base = 1e6f, .rms_eps = 1e-6f, .qk_norm = true,
                 .tied_output = false, .n_expert = 4, .n_expert_used = 2, .n_ff_exp = 32};
  for (const SynthShape& shape : {qwen3, llama, moe}) {
    TempFile out(std::string(shape.name) + ".gguf");
    Result<void> written = write_synth_model(shape, "BF16", vocab.value(), 1, out.path, pool);
    ASSERT_TRUE(written.ok()) << written.error().message;
    auto opened = gguf::File::open(out.path);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    auto file = std::make_shared<const gguf::File>(std::move(opened).value());
    EXPECT_EQ(file->get_int("general.file_type"), 32);
    EXPECT_EQ(file->find_tensor("output.weight") != nullptr, !shape.tied_output);
    auto loaded = model::Model::load(file);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    const model::HParams& hp = loaded.value()->hparams();
    EXPECT_EQ(hp.arch, shape.arch);
    EXPECT_EQ(hp.head_dim, shape.head_dim);
    EXPECT_EQ(hp.n_head_kv, shape.n_head_kv);
    EXPECT_EQ(hp.n_ff, shape.n_ff);
    EXPECT_EQ(hp.rope_freq_base, shape.rope_freq_base);
    EXPECT_EQ(hp.rms_eps, shape.rms_eps);
    EXPECT_EQ(hp.n_expert, shape.n_expert);
    EXPECT_EQ(hp.n_expert_used, shape.n_expert_used);
    EXPECT_EQ(hp.n_ff_exp, shape.n_ff_exp);
  }
}

TEST(SynthVocab, ShrinkingKeepsAddedTokensAndRenumbersThem) {
  REQUIRE_TESTDATA();
  auto vocab = gguf::File::open(testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  const int64_t n_vocab = 1000, n_added = kQwenVocabTokens - kQwenFirstAdded, n_normal = n_vocab - n_added;
  gguf::Writer w;
  ASSERT_TRUE(copy_fitted_tokenizer(vocab.value(), n_vocab, w).ok());
  auto bytes = w.serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  auto f = gguf::File::parse(bytes.value());
  ASSERT_TRUE(f.ok()) << f.error().message;

  ASSERT_EQ(f->get_array("tokenizer.ggml.tokens")->items.size(), size_t(n_vocab));
  for (int64_t id = 0; id < n_normal; ++id) ASSERT_EQ(token(f.value(), id), token(vocab.value(), id));
  for (int64_t k = 0; k < n_added; ++k) {
    EXPECT_EQ(token(f.value(), n_normal + k), token(vocab.value(), kQwenFirstAdded + k));
    EXPECT_EQ(token_type(f.value(), n_normal + k), token_type(vocab.value(), kQwenFirstAdded + k));
  }
  // <|endoftext|> (151643) and <|im_end|> (151645) move with the added tokens.
  EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id"), n_normal);
  EXPECT_EQ(f->get_int("tokenizer.ggml.padding_token_id"), n_normal);
  EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id"), n_normal + 2);
  EXPECT_EQ(token(f.value(), n_normal + 2), "<|im_end|>");
  EXPECT_EQ(f->get_string("tokenizer.chat_template"), vocab->get_string("tokenizer.chat_template"));

  // Merges: exactly those of the original whose halves and result all remain.
  std::set<std::string> kept;
  for (const gguf::Value& v : f->get_array("tokenizer.ggml.tokens")->items) kept.insert(*v.as_string());
  std::vector<std::string> expected;
  for (const gguf::Value& v : vocab->get_array("tokenizer.ggml.merges")->items) {
    const std::string& m = *v.as_string();
    const std::string left = m.substr(0, m.find(' ')), right = m.substr(m.find(' ') + 1);
    if (kept.count(left) && kept.count(right) && kept.count(left + right)) expected.push_back(m);
  }
  std::vector<std::string> merges;
  for (const gguf::Value& v : f->get_array("tokenizer.ggml.merges")->items) merges.push_back(*v.as_string());
  EXPECT_EQ(merges, expected);
  EXPECT_GT(merges.size(), 600u);  // the 1000 tokens are 256 bytes and the first merges' results
}

// Writing over the --vocab file would destroy the input (it is mapped while being read).
TEST(SynthErrors, RefusesToWriteOverTheVocabFile) {
  REQUIRE_TESTDATA();
  TempFile copy("vocab-copy.gguf");
  std::filesystem::copy_file(testdata_path("tokenizer/qwen-vocab.gguf"), copy.path);
  const auto size_before = std::filesystem::file_size(copy.path);
  auto vocab = gguf::File::open(copy.path);
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  kernels::ThreadPool pool(1);
  SynthShape shape = small_qwen2();
  for (const char* type : {"F16", "Q8_0"}) {
    Result<void> r = write_synth_model(shape, type, vocab.value(), 1, copy.path, pool);
    ASSERT_FALSE(r.ok()) << type;
    EXPECT_EQ(r.error().message,
              copy.path + ": is the --vocab file; write the synthetic model to another path");
  }
  EXPECT_EQ(std::filesystem::file_size(copy.path), size_before);
}

TEST(SynthErrors, UnknownTypeBadVocabularyAndTooFewRows) {
  REQUIRE_TESTDATA();
  auto vocab = gguf::File::open(testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  kernels::ThreadPool pool(1);
  SynthShape shape = small_qwen2();
  shape.n_vocab = 1000;
  TempFile out("errors.gguf");

  Result<void> r = write_synth_model(shape, "Q9_9", vocab.value(), 1, out.path, pool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown type 'Q9_9'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("F16"), std::string::npos) << r.error().message;
  EXPECT_FALSE(std::filesystem::exists(out.path));

  shape.n_vocab = 10;  // fewer rows than Qwen's 26 added tokens
  r = write_synth_model(shape, "F32", vocab.value(), 1, out.path, pool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("26 non-normal tokens do not fit in 10 tokens"), std::string::npos)
      << r.error().message;

  gguf::Writer no_tokens;
  no_tokens.set_string("general.architecture", "qwen2");
  auto bytes = no_tokens.serialize();
  ASSERT_TRUE(bytes.ok());
  auto not_vocab = gguf::File::parse(bytes.value(), "model-without-vocab.gguf");
  ASSERT_TRUE(not_vocab.ok());
  r = write_synth_model(small_qwen2(), "F16", not_vocab.value(), 1, out.path, pool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("model-without-vocab.gguf: no 'tokenizer.ggml.tokens'"), std::string::npos)
      << r.error().message;

  gguf::Writer bad_types;
  bad_types.set_strings("tokenizer.ggml.tokens", std::vector<std::string>{"a", "b", "c"});
  bad_types.set_i32s("tokenizer.ggml.token_type", std::vector<int32_t>{1, 1});
  bytes = bad_types.serialize();
  ASSERT_TRUE(bytes.ok());
  auto short_types = gguf::File::parse(bytes.value(), "short.gguf");
  ASSERT_TRUE(short_types.ok());
  gguf::Writer sink;
  r = copy_fitted_tokenizer(short_types.value(), 8, sink);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("has 2 items but there are 3 tokens"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace gengyun::convert
