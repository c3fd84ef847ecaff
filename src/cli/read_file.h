// Reading a whole file named on the command line (prompts, templates, conversations, schemas).
#pragma once

#include <optional>
#include <string>

namespace gengyun::cli {

/// The bytes of the file at `path`; nullopt when it cannot be opened or is a directory.
std::optional<std::string> read_file(const std::string& path);

}  // namespace gengyun::cli
