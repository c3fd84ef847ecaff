// POST /v1/chat/completions and POST /v1/completions.
#pragma once

#include <cstddef>
#include <memory>

#include "api/handler_pool.h"
#include "api/in_flight.h"
#include "api/openai_response.h"
#include "api/responder.h"
#include "deploy/registry.h"
#include "platform/ledger_writer.h"
#include "platform/store.h"

namespace gengyun::api {

/// The request path of `kind`'s endpoint ("/v1/chat/completions", "/v1/completions").
const char* endpoint_path(CompletionKind kind);

/// What a generation request is served with.
struct GenerationContext {
  deploy::Registry& registry;
  platform::Store& store;
  /// where checkpoints and ledger rows after admission go (batched; spooled when the database
  /// cannot be written)
  platform::LedgerWriter& ledger;
  HandlerPool& pool;  ///< where a finished request writes its ledger row and last bytes
  InFlight& in_flight;  ///< where a running generation can be ended (server shutdown)
};

/// Serves one generation request: authenticates it (401, no ledger row), fills the fields the
/// body lacks from the model's config defaults, validates the body (400 / 404; an embedding
/// model: 400 naming `model`), checks the key may use the model (404 "model_not_found",
/// refuse_model: before anything loads), holds the model (loading it on demand: 503
/// "model_unavailable" when it cannot be loaded, 503 "insufficient_memory" over the memory
/// budget) until the answer ends and passes the request's keep_alive on, renders and tokenizes
/// the prompt (chat: the model's chat_prompt, 400 when its template refuses the messages;
/// completions: BOS added, special tokens not parsed), checks it fits the context (400
/// "context_length_exceeded") and that its prompts times n fit what the model holds at once
/// (LoadedModel::max_requests; 400 naming `n`, or the prompts), admits it, as the model an alias
/// names (its id on the ledger row, its prices, the answer's `model`), against the budgets and
/// rate limits of its key and tenant (LedgerWriter::admit: 429 "insufficient_quota" or
/// "rate_limit_exceeded" with Retry-After; 503 "ledger_unavailable" when the ledger cannot be
/// written), submits it to the model's batching engine (503 "server_busy" with Retry-After when the
/// model's waiting queue is full) and returns: the engine's events then answer through `out` with
/// the whole body or an SSE stream, without holding a thread. From admission on, the answer carries
/// x-request-id (also the response `id` and the ledger row's request id) and the x-ratelimit-*
/// fields of the limits that exist. Writes exactly one ledger row per authenticated request,
/// settled before the body (non-streamed) or before the chunk with the finish_reason, which carries
/// the usage, and (when stream_options.include_usage) the usage chunk (streamed); a long answer
/// checkpoints its counts into the open row every 64 tokens or 1 s. A request refused before
/// generation records 0 prompt and 0 completion tokens. A client that disconnects while its answer
/// is generated cancels the generation at the engine's next step and gets a "cancelled" row
/// (http_status 499 when nothing was sent yet, 200 mid-stream), billed for the tokens generated.
/// One ended by the server (InFlight::end_all) gets a "shutdown" row, billed the same way, and
/// a 503 "server_shutting_down" error (as the last chunk of a stream). At each checkpoint the
/// key is authenticated again (on a handler thread, through the store's key cache): one revoked
/// or expired since admission ends the generation at the engine's next step, billed the same
/// way with an "error" row, and answered 401 "invalid_api_key" saying so (a stream: its usage
/// chunk, that error and [DONE]).
/// Exceptions do not escape: a JSON exception is answered as 400, anything else as 500. Blocks
/// (SQLite, tokenization): run it on a handler thread, never on an I/O thread.
void handle_generation(CompletionKind kind, const GenerationContext& context,
                       const HttpRequest& request, const std::shared_ptr<Responder>& out);

}  // namespace gengyun::api
