// Reading a whole file named on the command line (prompts, templates, conversations, schemas).
#pragma once

#include <string>

#include "gengyun/result.h"

namespace gengyun::cli {

/// The bytes of the file at `path`. Errors: "cannot read PATH: " and the reason (the system's,
/// e.g. "No such file or directory", or "it is a directory").
Result<std::string> read_file(const std::string& path);

}  // namespace gengyun::cli
