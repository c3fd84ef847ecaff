// Reading a whole file named on the command line (prompts, templates, conversations, schemas),
// each kind of file up to a bound of its own.
#pragma once

#include <cstddef>
#include <string>

#include "gengyun/result.h"

namespace gengyun::cli {

/// A kind of text file a flag names: the flag, the most bytes such a file may hold, and what
/// it is ("a chat template"), for the message that refuses a larger one.
struct TextFileKind {
  const char* flag;
  size_t max_bytes;
  const char* what;
};

// The bounds. A file is read whole into memory, and what reads it then takes a multiple of its
// size (the tokenizer ~36 bytes per byte of text: QA 2026-12-08, tokenize grew to 4.2 GB on
// /dev/zero), so each bound is a little above the largest real file of its kind.

/// render-chat --template: ChatTemplate::parse() refuses a source over kMaxTemplateBytes
/// (1 MiB; real chat templates are under 64 KiB), so a larger file need not be read.
extern const TextFileKind kTemplateFile;
/// run --json-schema: 4 MiB, the most a request to serve may hold (kMaxRequestBodyBytes), so
/// that `run` takes every schema a response_format of serve takes.
extern const TextFileKind kJsonSchemaFile;
/// render-chat --conversation: 16 MiB, as kTextFile (a conversation is text and its JSON).
extern const TextFileKind kConversationFile;
/// tokenize and embed --file: 16 MiB, some 4M tokens, more than the longest context of the
/// models gengyun runs (1M tokens), with the tokenizer under 1 GB.
extern const TextFileKind kTextFile;
/// serve --prices: 1 MiB, some 15 000 models at ~70 bytes a line.
extern const TextFileKind kPriceFile;

/// The bytes of the file at `path`, a file of the kind `kind` (a regular file, or a pipe or a
/// device such as /dev/stdin, read in chunks up to the bound; its size as stat gives it is not
/// trusted). Errors: "FLAG: cannot read PATH: " and the reason (the system's, e.g. "No such
/// file or directory", or "it is a directory"); "FLAG PATH: more than N MiB; WHAT may hold at
/// most N MiB" for a file over kind.max_bytes.
Result<std::string> read_file(const TextFileKind& kind, const std::string& path);

}  // namespace gengyun::cli
