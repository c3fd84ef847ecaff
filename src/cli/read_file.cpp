#include "cli/read_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace gengyun::cli {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path)) return std::nullopt;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace gengyun::cli
