// Shared helpers for the tokenizer tests: reference files and vocabularies loaded once.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"

namespace gengyun::testing {

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Splits `text` on `separator` the way llama.cpp's test-tokenizer-0 does: no entry after a
/// trailing separator.
inline std::vector<std::string> split_on(const std::string& text, const std::string& separator) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t next = text.find(separator, pos);
    if (next == std::string::npos) {
      parts.push_back(text.substr(pos));
      break;
    }
    parts.push_back(text.substr(pos, next - pos));
    pos = next + separator.size();
  }
  return parts;
}

/// One line of ids per input (test-tokenizer-0's .out format: " 1 2 3").
inline std::vector<std::vector<int32_t>> read_token_lines(const std::string& path) {
  std::vector<std::vector<int32_t>> lines;
  std::istringstream in(read_text_file(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ids(line);
    std::vector<int32_t> tokens;
    for (int32_t id; ids >> id;) tokens.push_back(id);
    lines.push_back(std::move(tokens));
  }
  return lines;
}

/// The tokenizer of a GGUF under the test data folder, loaded once per process; nullptr (and a
/// test failure) when it does not load.
inline const Tokenizer* shared_tokenizer(const std::string& relative_path) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[relative_path];
  if (!slot) {
    auto file = gguf::File::open(testdata_path(relative_path));
    if (!file.ok()) {
      ADD_FAILURE() << relative_path << ": " << file.error().message;
      return nullptr;
    }
    auto tokenizer = Tokenizer::load(file.value());
    if (!tokenizer.ok()) {
      ADD_FAILURE() << relative_path << ": " << tokenizer.error().message;
      return nullptr;
    }
    slot = std::move(tokenizer.value());
  }
  return slot.get();
}

inline std::string decode_all(const Tokenizer& t, const std::vector<int32_t>& ids,
                              bool render_special) {
  std::string out;
  for (int32_t id : ids) out += t.token_to_piece(id, render_special);
  return out;
}

inline std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

}  // namespace gengyun::testing
