// One round of the serving benchmark (N concurrent streams), summarized the same way for
// both engines: loadgen.mjs (gengyun over HTTP) and llamacpp_serving.mjs (llama.cpp in-process).

/// The p-th percentile (0 < p <= 100) of `values` by nearest rank; null when there are none.
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/// A round's figures from its requests. Times are performance.now() milliseconds.
///   start: when the round began (every request is sent, or every sequence starts, right after)
///   requests[i]: {sent, events, end, promptTokens, completionTokens, finishReason, error}
///     events: arrival time of each streamed piece of output (an SSE chunk with text, or a token)
///     end: when the last token was known (the chunk with finish_reason, or the last token)
///     error: a message when the request failed (then its other fields may be missing)
/// TTFT: first event - sent. ITL: the gaps between successive events of one request, pooled
/// over all requests. Output tokens/s: all completion tokens / (last end - start).
export function summarizeRound({engine, concurrency, start, requests}) {
  const done = requests.filter((r) => !r.error);
  const ttft = done.map((r) => r.events[0] - r.sent);
  const itl = done.flatMap((r) => r.events.slice(1).map((t, i) => t - r.events[i]));
  const completionTokens = done.reduce((sum, r) => sum + r.completionTokens, 0);
  const wallMs = done.length ? Math.max(...done.map((r) => r.end)) - start : null;
  const finishReasons = {};
  for (const r of done) finishReasons[r.finishReason] = (finishReasons[r.finishReason] ?? 0) + 1;
  return {
    engine,
    concurrency,
    requests: requests.length,
    errors: requests.filter((r) => r.error).map((r) => r.error),
    prompt_tokens: [...new Set(done.map((r) => r.promptTokens))].sort((a, b) => a - b),
    completion_tokens: completionTokens,
    events: done.reduce((sum, r) => sum + r.events.length, 0),
    finish_reasons: finishReasons,
    wall_s: wallMs === null ? null : wallMs / 1000,
    output_tokens_per_s: wallMs ? (completionTokens * 1000) / wallMs : null,
    ttft_ms: {p50: percentile(ttft, 50), p99: percentile(ttft, 99)},
    itl_ms: {p50: percentile(itl, 50), p99: percentile(itl, 99)},
  };
}
