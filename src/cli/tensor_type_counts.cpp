#include "cli/tensor_type_counts.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

namespace gengyun::cli {

std::string tensor_type_counts(const gguf::File& file) {
  std::map<std::string_view, int> counts;
  for (const gguf::TensorInfo& t : file.tensors()) ++counts[gguf::ggml_type_info(t.type).name];
  std::vector<std::pair<std::string_view, int>> by_count(counts.begin(), counts.end());
  std::stable_sort(by_count.begin(), by_count.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string line = std::to_string(file.tensors().size()) + " tensors: ";
  for (size_t i = 0; i < by_count.size(); ++i)
    line +=
        (i ? ", " : "") + std::string(by_count[i].first) + " " + std::to_string(by_count[i].second);
  return line;
}

}  // namespace gengyun::cli
