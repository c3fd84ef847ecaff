// `gengyun pull`: downloads a GGUF file over HTTP(S) with libcurl. Hugging Face `resolve` URLs
// (redirects to the CDN followed; the file's SHA-256 from the X-Linked-Etag header HF sends for
// LFS files) and plain URLs. A download is written to DIR/NAME.part, resumed with an HTTP Range
// request after a dropped connection (in the same run, and in a later run of the same command),
// checked against a SHA-256 when the user or the server gives one, fsync'd, validated by the
// GGUF reader, and only then renamed to DIR/NAME. Design notes: docs/deploy.md, "## pull".
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "gengyun/result.h"

namespace gengyun::deploy {

/// Called as data arrives: bytes of the file on disk so far (a resumed part included) and the
/// file's total size in bytes: the server's (Content-Length, Content-Range), else the size the
/// file's GGUF header gives it once the header has arrived (gguf::FileExtent's padded_end; a
/// body without a Content-Length, or chunked), 0 while neither is known. A body whose size was
/// not declared ends with one call of its size as both.
using PullProgressFn = std::function<void(uint64_t done, uint64_t total)>;

struct PullOptions {
  std::string url;        ///< http://, https://, or hf://ORG/REPO[@REVISION]/FILE (expand_hf_url)
  std::string dir = ".";  ///< the folder the file goes to; created when missing
  /// Expected SHA-256 of the file, 64 hex digits (either case). Empty: the server's, when it
  /// gives one (X-Linked-Etag, or an ETag of 64 hex digits).
  std::string sha256;
  PullProgressFn progress;  ///< may be empty
  /// A bearer token (Hugging Face's, for gated repositories; empty: none). Sent as
  /// `Authorization: Bearer TOKEN` to the URL's own host only (hostname, scheme and port): not
  /// to a redirect target elsewhere (HF's CDN URLs are pre-signed), as curl and huggingface_hub
  /// do. Never printed: errors do not hold it.
  std::string token;
};

/// `url` with the shorthand hf://ORG/REPO/FILE expanded to Hugging Face's resolve URL
/// https://huggingface.co/ORG/REPO/resolve/main/FILE, and hf://ORG/REPO@REVISION/FILE to
/// .../resolve/REVISION/FILE (REVISION one path segment: a branch, tag or commit; refs/pr/1 as
/// HF's own client sends it, refs%2Fpr%2F1). FILE may hold folders. Other URLs come back
/// unchanged. Errors: an hf:// URL without ORG, REPO or FILE, or with an empty REVISION; an ORG,
/// REPO or REVISION that is not a Hugging Face name (letters, digits, '-', '_', '.', and '%' in
/// a REVISION; not '.', no '..'); a FILE with an empty, '.' or '..' folder.
Result<std::string> expand_hf_url(std::string_view url);

/// Whether `url` (after expand_hf_url) is an https URL on Hugging Face's own host (huggingface.co
/// or hf.co, any case): where `$HF_TOKEN` may go, as huggingface_hub sends it only to its endpoint.
bool is_hugging_face_url(std::string_view url);

struct PullResult {
  std::string path;           ///< DIR/NAME: the file, complete, verified and a valid GGUF
  uint64_t size = 0;          ///< bytes
  uint64_t resumed_from = 0;  ///< bytes of an earlier partial download kept (0: from scratch)
  std::string sha256;         ///< the verified digest (lower-case hex); empty when none was given
  std::string sha256_source;  ///< "--sha256", "X-Linked-Etag", "ETag"; empty with sha256
};

/// Downloads `options.url` into `options.dir`. The file name is the URL path's last segment
/// when it ends in ".gguf"; otherwise the response's Content-Disposition file name, else the
/// URL's last segment. Errors (each naming the URL or file): a URL that is not http(s) (after
/// expand_hf_url), a malformed `sha256`, a token over plain http to a host other than a loopback
/// one (it would cross the network in clear) or with characters a bearer token cannot hold, an HTTP
/// status other than 200/206 ("HTTP 404"), a connection that fails or keeps dropping without
/// progress (the part file is kept for a later resume), a file larger than the free space of
/// `options.dir`'s file system (by Content-Length or its GGUF header; the part file is kept), a
/// SHA-256 mismatch or a body that is not a valid GGUF file (the download is removed), I/O errors.
/// A body is held to its GGUF header as it arrives: first bytes that cannot start a GGUF file, a
/// header over 256 MiB, or bytes past the end the header gives the file (gguf::FileExtent's
/// padded_end) stop it at once, and the part file is removed. `options.dir` is created when
/// missing; a failed run removes the folders it created while they are empty (a part file kept for
/// a resume keeps its folder). Blocking; the cost is the transfer plus one read of the file when a
/// SHA-256 is checked.
Result<PullResult> pull(const PullOptions& options);

}  // namespace gengyun::deploy
