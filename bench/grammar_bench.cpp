// Micro-benchmarks of constrained decoding (Google Benchmark) on Qwen's real 151k vocabulary
// (../shared/testdata/tokenizer/qwen-vocab.gguf):
//  - VocabIndex/: building the per-vocabulary tables (once per model).
//  - Mask/<position>: one GrammarMatcher::fill_mask at a recognizer position reached by
//    accepting the tokens of a prefix (at the start, inside a string, after a value, at a
//    free value of a json_object). Issue 10's target: well under 2 ms (10% of a 0.5B decode
//    step is ~20 ms). `allowed` is the number of tokens the mask allows.
//   cmake --build build --target grammar_bench && build/grammar_bench
#include <benchmark/benchmark.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "engine/grammar_vocab.h"
#include "gguf/gguf.h"
#include "sampling/json_schema.h"
#include "sampling/token_mask.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace sampling = gengyun::sampling;

const gengyun::Tokenizer& qwen() {
  static const std::unique_ptr<gengyun::Tokenizer> tokenizer = [] {
    auto file = gengyun::gguf::File::open(GENGYUN_TESTDATA_DIR "/tokenizer/qwen-vocab.gguf");
    if (!file.ok()) throw std::runtime_error(file.error().message);
    auto t = gengyun::Tokenizer::load(file.value());
    if (!t.ok()) throw std::runtime_error(t.error().message);
    return std::move(t.value());
  }();
  return *tokenizer;
}

std::shared_ptr<const sampling::VocabIndex> qwen_index() {
  static const auto index = gengyun::engine::make_vocab_index(qwen());
  return index;
}

const char* const kSchema = R"({"type": "object", "properties": {
    "name": {"type": "string"}, "age": {"type": "integer"},
    "tags": {"type": "array", "items": {"type": "string"}}, "ok": {"type": "boolean"}},
    "required": ["name", "age", "tags", "ok"], "additionalProperties": false})";

void VocabIndex(benchmark::State& state) {
  const gengyun::Tokenizer& t = qwen();
  for (auto _ : state) benchmark::DoNotOptimize(gengyun::engine::make_vocab_index(t));
}
BENCHMARK(VocabIndex)->Unit(benchmark::kMillisecond);

/// fill_mask after the tokens of `prefix` under `grammar`.
void mask_after(benchmark::State& state, std::shared_ptr<const sampling::Grammar> grammar,
                const std::string& prefix) {
  sampling::GrammarMatcher matcher(grammar, qwen_index());
  for (int32_t id : qwen().encode(prefix, false))
    if (!matcher.accept(id)) {
      state.SkipWithError(("the grammar refuses the prefix " + prefix).c_str());
      return;
    }
  sampling::TokenMask mask(qwen_index()->n_vocab());
  for (auto _ : state) {
    matcher.fill_mask(mask);
    benchmark::DoNotOptimize(mask.words().data());
  }
  state.counters["allowed"] = mask.count();
}

void Mask(benchmark::State& state, const std::string& prefix, bool json_object) {
  mask_after(state,
             json_object ? sampling::json_object_grammar()
                         : sampling::compile_json_schema_text(kSchema).value(),
             prefix);
}
BENCHMARK_CAPTURE(Mask, start, std::string(""), false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(Mask, key, std::string("{"), false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(Mask, in_string, std::string("{\"name\": \"Ada Love"), false)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(Mask, after_value, std::string("{\"name\": \"Ada\", \"age\": 36"), false)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(Mask, array_item, std::string("{\"name\": \"Ada\", \"age\": 36, \"tags\": ["),
                  false)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(Mask, object_key, std::string("{\"a\": 1, "), true)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(Mask, object_value, std::string("{\"a\": "), true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(Mask, object_in_string, std::string("{\"a\": \"hello wor"), true)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
