// POST /v1/embeddings.
#pragma once

#include <memory>

#include "api/generation_handler.h"
#include "api/responder.h"

namespace gengyun::api {

/// The request path of the embeddings endpoint.
inline constexpr const char* kEmbeddingsPath = "/v1/embeddings";

/// Serves one embeddings request (the OpenAI API reference, "Create embeddings"): authenticates
/// it (401, no ledger row), validates the body (parse_embeddings_request: 400; an unknown model
/// 404; a model that generates text, a `dimensions` above the model's width: 400 naming the
/// field), tokenizes each input (text: special tokens not parsed; token ids: checked against
/// the vocabulary; both get the BOS / EOS the model asks for, LoadedModel::embedding_input) and
/// checks it fits the context (400 "context_length_exceeded", param "input"), checks the key
/// may use the model (403), admits the request at its prompt tokens with no completion (the
/// input price only; 429 / 503 as completions) and submits every input to the model's batching
/// engine, where they share forward passes with each other and with other requests (503
/// "server_busy" with Retry-After when its queue is full). Once every input is computed, on a
/// handler thread: each vector truncated to `dimensions` and scaled to unit length
/// (model::normalize_embedding), the ledger row settled (prompt tokens; 0 completion tokens),
/// then the body. Exactly one ledger row per authenticated request; a client that leaves
/// cancels the inputs still queued or running (a "cancelled" row, http_status 499, billed for
/// the tokens computed); one ended by the server (InFlight::end_all) is answered 503
/// "server_shutting_down" with a "shutdown" row. Blocks (SQLite, tokenization): run it on a
/// handler thread.
void handle_embeddings(const GenerationContext& context, const HttpRequest& request,
                       const std::shared_ptr<Responder>& out);

}  // namespace gengyun::api
