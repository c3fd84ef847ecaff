// What a chat template costs (issue 9: "a template is parsed once per model and rendering costs
// microseconds, not milliseconds"): Parse/<template> parses each template of
// ../shared/testdata/chat/templates, Render/<template>/<conversation> renders it with each
// conversation of conversations.json (as `gengyun render-chat` and the server do; a
// conversation the template refuses times the refusal). Results go to bench/RESULTS.md:
//   cmake --build build --target chat_template_bench
//   build/chat_template_bench --benchmark_min_time=0.05
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/chat_template.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using gengyun::chat::ChatTemplate;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path dir = fs::path(GENGYUN_TESTDATA_DIR) / "chat";
  if (!fs::is_directory(dir / "templates")) {
    std::fprintf(stderr, "chat_template_bench: no %s (the test data)\n", dir.c_str());
    return 1;
  }
  const auto conversations = ordered_json::parse(read_file(dir / "conversations.json"));
  std::vector<fs::path> templates;
  for (const auto& entry : fs::directory_iterator(dir / "templates"))
    if (entry.path().extension() == ".jinja") templates.push_back(entry.path());
  std::sort(templates.begin(), templates.end());
  for (const fs::path& path : templates) {
    const std::string name = path.stem().string();
    const std::string source = read_file(path);
    auto parsed = ChatTemplate::parse(source);
    if (!parsed) {
      std::fprintf(stderr, "chat_template_bench: %s: %s\n", name.c_str(),
                   parsed.error().message.c_str());
      return 1;
    }
    benchmark::RegisterBenchmark(("Parse/" + name).c_str(), [source](benchmark::State& state) {
      for (auto _ : state) benchmark::DoNotOptimize(ChatTemplate::parse(source));
    });
    for (const ordered_json& conversation : conversations) {
      auto variables = gengyun::chat::conversation_variables(conversation);
      if (!variables) continue;
      benchmark::RegisterBenchmark(
          ("Render/" + name + "/" + conversation.value("name", "")).c_str(),
          [chat_template = *parsed, variables = *variables](benchmark::State& state) {
            for (auto _ : state) benchmark::DoNotOptimize(chat_template.render(variables));
          });
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
