// The layering of DESIGN.md, checked against src/layers.txt: a file of src/<layer>/ includes
// headers of its own layer, of the layers it links (directly or through them) and of the seam
// include/gengyun/; a header of the seam includes only the seam; every folder of src/ is a
// listed layer and every layer links only layers of earlier lines. The checker runs on the
// real tree and on small trees with planted violations.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace gengyun {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLayersFile = "src/layers.txt";
constexpr const char* kSeam = "gengyun";

/// A source file: its path relative to the repository root ("src/engine/x.cpp") and its text.
struct SourceFile {
  std::string path;
  std::string text;
};

/// For each layer of the layers file, the layers it may include besides itself: those it links
/// and all that they may include. Malformed lines and links to layers not on an earlier line
/// are added to `problems`.
std::map<std::string, std::set<std::string>> read_layers(const std::string& text,
                                                         std::vector<std::string>& problems) {
  static const std::regex kLine(R"(^([a-z]+):((?:\s+[a-z]+)*)\s*$)");
  std::map<std::string, std::set<std::string>> below;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line.starts_with('#')) continue;
    const std::string where = std::string(kLayersFile) + ":" + std::to_string(number) + ": ";
    std::smatch m;
    if (!std::regex_match(line, m, kLine)) {
      problems.push_back(where + "not `layer: the layers it links`");
      continue;
    }
    const std::string layer = m[1];
    if (below.contains(layer)) problems.push_back(where + layer + " is listed twice");
    std::set<std::string>& reach = below[layer];
    std::istringstream links(m[2]);
    for (std::string link; links >> link;) {
      const auto linked = below.find(link);
      if (link == layer || linked == below.end()) {
        problems.push_back(where + layer + " links " + link + ", which is not on an earlier line");
        continue;
      }
      reach.insert(link);
      reach.insert(linked->second.begin(), linked->second.end());
    }
  }
  return below;
}

/// Everything wrong with the layering of `files` (paths under src/ and include/) under the
/// layers file `layers_text`, one "path:line: what" per problem.
std::vector<std::string> layering_problems(const std::string& layers_text,
                                           const std::vector<SourceFile>& files) {
  static const std::regex kInclude(R"(^\s*#\s*include\s*([<"])([^>"]+)[>"])");
  std::vector<std::string> problems;
  const auto below = read_layers(layers_text, problems);
  for (const SourceFile& file : files) {
    const fs::path path(file.path);
    const std::string top = path.begin()->string();
    const bool seam = top == "include";
    std::string layer;
    if (!seam) {
      layer = std::next(path.begin())->string();
      if (!below.contains(layer)) {
        problems.push_back(file.path + ": src/" + layer + "/ is not a layer of " + kLayersFile);
        continue;
      }
    }
    std::istringstream in(file.text);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      std::smatch m;
      if (!std::regex_search(line, m, kInclude)) continue;
      const bool quoted = m[1] == "\"";
      const std::string header = m[2];
      const std::string target = fs::path(header).begin()->string();
      const bool internal = below.contains(target);
      if (target == kSeam || (!quoted && !internal)) continue;  // the seam; a system header
      const std::string where = file.path + ":" + std::to_string(number) + ": includes \"" +
                                header + "\"";
      if (seam) {
        problems.push_back(where + ": the seam include/gengyun/ includes no internal header");
      } else if (!internal) {
        problems.push_back(where + ", which is in no layer of " + kLayersFile);
      } else if (target != layer && !below.at(layer).contains(target)) {
        problems.push_back(where + ": " + layer + " does not link " + target + " (" +
                           kLayersFile + ")");
      }
    }
  }
  return problems;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The C++ files under root/src/*/ and root/include/, paths relative to root, sorted.
std::vector<SourceFile> source_files(const fs::path& root) {
  std::vector<SourceFile> files;
  for (const char* top : {"src", "include"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".h" && ext != ".cpp")) continue;
      files.push_back({fs::relative(entry.path(), root).string(), read_file(entry.path())});
    }
  }
  std::sort(files.begin(), files.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.path < b.path; });
  return files;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

TEST(Layering, EveryIncludeOfTheTreeRespectsLayersTxt) {
  const fs::path root(GENGYUN_SOURCE_DIR);
  const std::vector<SourceFile> files = source_files(root);
  ASSERT_GT(files.size(), 100u);
  const std::vector<std::string> problems =
      layering_problems(read_file(root / kLayersFile), files);
  EXPECT_TRUE(problems.empty()) << joined(problems);
}

constexpr const char* kPlantedLayers =
    "# comment\n"
    "util:\n"
    "gguf: util\n"
    "tokenizer: gguf\n"
    "model: gguf\n"
    "engine: model tokenizer\n";

TEST(Layering, AllowedIncludesPass) {
  const std::vector<SourceFile> files = {
      {"src/engine/a.cpp",
       "#include \"engine/a.h\"\n#include <vector>\n#include \"util/clock.h\"\n"
       "#include \"tokenizer/t.h\"\n#include \"gengyun/engine.h\"\n"},
      {"src/util/b.h", "#include <gtest/gtest.h>\n#include \"gengyun/result.h\"\n"},
      {"include/gengyun/engine.h", "#include <string>\n#include \"gengyun/result.h\"\n"},
  };
  EXPECT_EQ(layering_problems(kPlantedLayers, files), std::vector<std::string>{});
}

TEST(Layering, PlantedViolationsAreNamedByFileAndLine) {
  const std::vector<SourceFile> files = {
      {"src/gguf/a.h", "#pragma once\n#include \"engine/e.h\"\n"},
      {"src/model/b.cpp", "#include \"model/b.h\"\n\n  #  include \"tokenizer/t.h\"\n"},
      {"src/model/c.cpp", "#include <engine/e.h>\n#include \"c.h\"\n"},
      {"include/gengyun/engine.h", "#include \"gengyun/result.h\"\n#include \"util/clock.h\"\n"},
      {"src/tools/d.cpp", "#include \"util/clock.h\"\n"},
  };
  EXPECT_EQ(layering_problems(kPlantedLayers, files),
            (std::vector<std::string>{
                "src/gguf/a.h:2: includes \"engine/e.h\": gguf does not link engine "
                "(src/layers.txt)",
                "src/model/b.cpp:3: includes \"tokenizer/t.h\": model does not link tokenizer "
                "(src/layers.txt)",
                "src/model/c.cpp:1: includes \"engine/e.h\": model does not link engine "
                "(src/layers.txt)",
                "src/model/c.cpp:2: includes \"c.h\", which is in no layer of src/layers.txt",
                "include/gengyun/engine.h:2: includes \"util/clock.h\": the seam "
                "include/gengyun/ includes no internal header",
                "src/tools/d.cpp: src/tools/ is not a layer of src/layers.txt",
            }));
}

TEST(Layering, LayersLinkOnlyLayersOfEarlierLines) {
  std::vector<std::string> problems;
  read_layers("util:\nmodel: engine\nengine: util engine\nutil:\nbad line\n", problems);
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "src/layers.txt:2: model links engine, which is not on an earlier line",
                          "src/layers.txt:3: engine links engine, which is not on an earlier line",
                          "src/layers.txt:4: util is listed twice",
                          "src/layers.txt:5: not `layer: the layers it links`",
                      }));
}

}  // namespace
}  // namespace gengyun
