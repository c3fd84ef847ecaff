// POST /v1/chat/completions and POST /v1/completions.
#pragma once

#include <httplib.h>

#include "api/openai_response.h"
#include "deploy/registry.h"
#include "platform/store.h"

namespace gengyun::api {

/// The request path of `kind`'s endpoint ("/v1/chat/completions", "/v1/completions").
const char* endpoint_path(CompletionKind kind);

/// Serves one generation request: authenticates it (401, no ledger row), validates the body
/// (400 / 404), renders and tokenizes the prompt (chat: render_chat, BOS added, special tokens
/// parsed; completions: BOS added, special tokens not parsed), checks it fits the context (400
/// "context_length_exceeded"), generates, and answers with the whole body or an SSE stream.
/// Writes exactly one ledger row per authenticated request, before the body (non-streamed) or
/// before the usage chunk and [DONE] (streamed); a client that disconnects mid-stream cancels
/// the generation and gets a "cancelled" row. Exceptions do not escape: a JSON exception is
/// answered as 400, anything else as 500.
void handle_generation(CompletionKind kind, deploy::Registry& registry, platform::Store& store,
                       const httplib::Request& req, httplib::Response& res);

}  // namespace gengyun::api
