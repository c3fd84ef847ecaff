// OpenAI request bodies (/v1/chat/completions, /v1/completions): parsing and validation into
// the engine's ChatMessage list / prompt text and GenerationParams.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "gengyun/engine.h"

namespace gengyun::api {

/// One prompt of a /v1/completions request: text, or token ids as the client gave them.
struct PromptInput {
  std::string text;
  bool is_tokens = false;
  std::vector<int32_t> tokens;  ///< when is_tokens
};

/// Choices one request may ask for at most (prompts times n; OpenAI's limit for n).
inline constexpr int kMaxChoices = 128;

/// A validated generation request.
struct GenerationRequest {
  std::string model;
  std::vector<ChatMessage> messages;  ///< chat: the conversation, roles system/user/assistant/tool
  /// chat: tools and chat_template_kwargs for the template (filled by read_template_fields).
  ChatOptions chat;
  /// chat: "auto", "none", "required" or "function" (the function tool_name)
  std::string tool_choice = "auto";
  std::string tool_name;              ///< chat: the function tool_choice names
  bool parallel_tool_calls = true;    ///< chat: more than one tool call allowed
  /// chat: the first tool with `strict: true` ("tools[i].function.strict"), "" for none: under
  /// "auto" its calls are then held to their schemas too.
  std::string strict_tool;
  std::vector<PromptInput> prompts;   ///< completions: each prompt gets n choices
  int n = 1;                          ///< choices per prompt
  bool echo = false;                  ///< completions: each choice's text starts with its prompt
  /// OpenAI defaults: temperature 1, top_p 1; top_k, min_p, penalties off unless given;
  /// max_tokens -1 (until the context is full) unless max_tokens/max_completion_tokens given.
  GenerationParams params;
  bool stream = false;
  /// `keep_alive` (Ollama's field): how long the model stays loaded once idle, in
  /// microseconds; nullopt: the model's default (docs/deploy.md).
  std::optional<int64_t> keep_alive_us;
  std::string user;  ///< `user`, the client's end user ("" none): read_user
  /// stream_options.include_usage: a last chunk with empty choices and the usage before [DONE],
  /// OpenAI's; without it the chunk with the finish_reason carries the usage instead.
  bool include_usage = false;
  /// chat: `service_tier` was given ("auto" or "default"): the answer names the tier that
  /// served it, "default" (OpenAI's response field).
  bool service_tier = false;
};

/// Arrays and objects nested deeper than this are refused (OpenAI bodies need about 5).
inline constexpr size_t kMaxJsonNesting = 64;

/// The field `name` of `body`; nullptr when absent or null (OpenAI's SDKs send explicit nulls).
const nlohmann::json* field(const nlohmann::json& body, const char* name);

/// A JSON value as it appears in an error message, cut to a readable length (40 characters).
/// A whole number at or past int64's bounds and below 10^21 that nlohmann holds as a double (a
/// literal such as 18446744073709551616) is shown in digits, exactly: 18446744073709551616, not
/// 1.8446744073709552e+19 (a literal that rounds to it, 18446744073709551617, shows the same).
std::string shown(const nlohmann::json& value);

/// A 400 naming `name` when `value` is a whole number outside int64, [-2^63, 2^63 - 1]: an
/// unsigned integer past 2^63 - 1, or a number nlohmann reads as a double (an integer literal
/// past 2^64 - 1 or below -2^63, 1e19) whose value is whole and at least 2^63 or at most -2^63:
/// "<name> is out of range: it must be an integer in <range>, got <value>", where `range` is the
/// field's own ("[1, 128]"); a double of -2^63 (a literal just below it, rounded) is "got a
/// number below -9223372036854775808". nullopt for any other value (an integer in int64, a
/// fraction, not a number), which the field's reader then checks. (Taken as int64, 2^64 - 1 would
/// be -1; as "not an integer", 2^64 would be misnamed.)
std::optional<ApiError> integer_past_int64(const nlohmann::json& value, const std::string& name,
                                           const std::string& range);

/// Token ids from `array`, a JSON array of integers in [0, 2^31 - 1]: a prompt of
/// /v1/completions or an input of /v1/embeddings given as ids. `where` names the array in
/// messages ("prompt", "input[1]"), `param` is the errors' param. Errors (400): an empty array
/// ("<where> must not be an empty array"), an element that is not an integer >= 0 ("<where>
/// must hold token ids (integers >= 0), got <value>"), an id past int32 ("<where> holds the
/// token id <id>, outside the vocabulary"); the model's vocabulary itself is checked once the
/// model is known.
ApiResult<std::vector<int32_t>> read_token_ids(const nlohmann::json& array,
                                               const std::string& where, const std::string& param);

/// int64's greatest value as range messages show it.
inline constexpr std::string_view kInt64MaxShown = "9223372036854775807";

/// The body parsed as a JSON object: the one parse of every JSON body the HTTP API reads.
/// Errors (400): nested deeper than kMaxJsonNesting, not JSON (or not UTF-8), not an object, an
/// object at any depth that gives a field twice (`param` is its path: "model",
/// "messages[0].role").
ApiResult<nlohmann::json> parse_json_object(std::string_view body);

/// The body's `model` when it is a string, else "" (what the ledger records as requested,
/// also for requests that fail validation).
std::string requested_model(const nlohmann::json& body);

/// The body's `user` (OpenAI's end-user id): "" when absent or null. The ledger records it on
/// the request's row (usage reports group by it). Errors (400 naming `user`): not a string,
/// longer than platform::kMaxEndUserBytes bytes, holding a NUL character (which PostgreSQL's
/// text cannot).
ApiResult<std::string> read_user(const nlohmann::json& body);
/// read_user()'s value, or "" when it is an error (what the ledger records, also for requests
/// that fail validation).
std::string requested_end_user(const nlohmann::json& body);

/// The body's `keep_alive` in microseconds (deploy::kKeepForever for any negative one): a number
/// of seconds, or a string (a number of seconds such as "-1", or a duration such as "5m",
/// "1h30m"), one rule for both (deploy::parse_keep_alive); nullopt when absent or null. Errors
/// (400, param "keep_alive"): another type, a malformed duration, over 100 years.
ApiResult<std::optional<int64_t>> read_keep_alive(const nlohmann::json& body);

/// A /v1/chat/completions body. `messages`: a non-empty array of {role, content}; role is
/// system, developer (taken as system), user, assistant or tool; content is a string or an
/// array of {"type":"text","text":...} parts (joined with "\n"); an assistant's content may be
/// null. An assistant may carry `tool_calls` (each {id, type "function", function {name,
/// arguments: a string}}; arguments that hold a JSON object reach the template as that
/// object) and `reasoning_content`; a tool message needs `tool_call_id`; any message may have a
/// `name`. `tools`: an array of {type "function", function {name, description, parameters,
/// strict}} (no other fields);
/// `tool_choice`: "auto", "none" (the tools are then left out of the prompt), "required" or
/// {"type": "function", "function": {"name": ...}} (enforced by apply_tool_choice);
/// `parallel_tool_calls`: a boolean; `chat_template_kwargs`: an object whose keys are not the
/// variables the server sets (messages, tools, documents, add_generation_prompt, bos_token,
/// eos_token, raise_exception, strftime_now). Sampling fields as
/// parse_completion_request. Errors (400, `param` naming the field): any field missing or of
/// the wrong type or range; tool_choice "required" without tools, or naming a function not in
/// tools; when the tool calls are constrained (tool_calls_constrained), a response_format
/// beside them (param tool_choice, or parallel_tool_calls) and a tool's parameters outside the
/// supported JSON Schema subset (param "tools[i].function.parameters").
ApiResult<GenerationRequest> parse_chat_request(const nlohmann::json& body);

/// Fills request.chat from the body text of a request parse_chat_request accepted: `tools`
/// (unless tool_choice is "none", or it is empty: `tools: []` is as no `tools`, "" here) and
/// `chat_template_kwargs` as JSON text with the client's key order (nlohmann::json sorts keys;
/// templates print tools with tojson, which keeps order).
void read_template_fields(std::string_view body, GenerationRequest& request);

/// Whether the request's tool calls are held to a grammar: tool_choice "required" or a named
/// function, or "auto" with parallel_tool_calls false (text or at most one call) or with a
/// tool marked `strict: true` (text, then calls valid under their schemas).
bool tool_calls_constrained(const GenerationRequest& request);

/// For a chat rendered by a built-in format (`own_template` false: the model has no usable
/// template of its own): a 400 naming `tools` (when tools reach the prompt: not with
/// tool_choice "none") or `chat_template_kwargs` when the request gives a non-empty one, since
/// a built-in format reads neither.
std::optional<ApiError> check_builtin_format(bool own_template, const GenerationRequest& request);

/// For a chat whose tool calls are constrained and whose tools reached the prompt: sets
/// request.params.format to Kind::ToolCalls for what the answer speaks (`syntax`, from the
/// model's chat template). Error (400, param tool_choice): tool_choice "required" or a named
/// function with a template that writes no tool-call format gengyun knows (with "auto" and
/// parallel_tool_calls false nothing is to be held then: no call is read from such answers).
std::optional<ApiError> apply_tool_choice(const ChatSyntax& syntax, GenerationRequest& request);

/// Whether the answer's tool calls stream their arguments as the model writes them: the
/// tool-call grammar holds them (apply_tool_choice set Kind::ToolCalls), so a call that begins
/// is written whole, and no stop sequence can cut one into text (docs/chat.md). Else each call
/// is sent whole when it closes.
bool streams_tool_arguments(const GenerationRequest& request);

/// Sets request.params.format.json_schema, for a request whose response_format is a
/// json_schema, to the schema's text with the client's key order (properties are generated in
/// that order; nlohmann::json sorts keys) from the body text of a request already parsed.
void read_response_format_schema(std::string_view body, GenerationRequest& request);

/// A /v1/completions body: `prompt` is a string or an array holding one string. Accepted
/// fields: model, max_tokens / max_completion_tokens (integer >= 1), temperature [0, 2],
/// top_p (0, 1], top_k (integer >= 0, 0 = off), min_p [0, 1], presence_penalty and
/// frequency_penalty [-2, 2], repeat_penalty (> 0), seed (integer), stop (string or array of
/// at most 4 strings; empty strings ignored), n, stream (bool), stream_options
/// ({include_usage: bool}, only with stream true), user (a string; on chat too); null counts
/// as absent. Errors (400, `param`
/// naming the field): a field of the wrong type or range, a field neither endpoint reads
/// ("Unrecognized request argument supplied: x") or one of the other endpoint only.
ApiResult<GenerationRequest> parse_completion_request(const nlohmann::json& body);

}  // namespace gengyun::api
