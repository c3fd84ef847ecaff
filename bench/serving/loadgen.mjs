// The load generator of the serving benchmark: N concurrent streaming completions against a
// gengyun server on loopback, one round, one JSON line of figures (stats.mjs) on stdout.
//
//   GENGYUN_API_KEY=KEY node loadgen.mjs --url http://127.0.0.1:PORT --model NAME \
//       --concurrency N --words W --max-tokens T [--first-prompt K] [--timeout-s S]
//
// Request i (0 <= i < N) is POST /v1/completions {"prompt": prompts.mjs prompt K+i of W words,
// "max_tokens": T, "temperature": 0, "stream": true}, each on its own connection, all sent at
// once. Every SSE chunk with text is an output event; the chunk with finish_reason ends the
// request; the final chunk's usage gives its prompt and completion tokens. A refused or broken
// request is listed under "errors"; the round stops after S seconds (default 600).
import http from "node:http";
import {performance} from "node:perf_hooks";
import {parseArgs} from "node:util";
import {promptText} from "./prompts.mjs";
import {summarizeRound} from "./stats.mjs";

const usage =
  "usage: GENGYUN_API_KEY=KEY node loadgen.mjs --url http://HOST:PORT --model NAME " +
  "--concurrency N --words W --max-tokens T [--first-prompt K] [--timeout-s S]";

function usageError(message) {
  console.error(`error: ${message}\n${usage}`);
  process.exit(2);
}

let options;
try {
  options = parseArgs({
    options: {
      "url": {type: "string"},
      "model": {type: "string"},
      "concurrency": {type: "string"},
      "words": {type: "string"},
      "max-tokens": {type: "string"},
      "first-prompt": {type: "string", default: "0"},
      "timeout-s": {type: "string", default: "600"},
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (e) {
  usageError(e.message);
}

function integerOption(name, min) {
  const text = options[name];
  if (text === undefined) usageError(`--${name} is required`);
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text)))
    usageError(`--${name} must be an integer >= ${min}, not '${text}'`);
  return Number(text);
}

const concurrency = integerOption("concurrency", 1);
const words = integerOption("words", 1);
const maxTokens = integerOption("max-tokens", 1);
const firstPrompt = integerOption("first-prompt", 0);
const timeoutS = integerOption("timeout-s", 1);
if (!options.model) usageError("--model is required");
let url;
try {
  url = new URL("/v1/completions", options.url);
} catch {
  usageError(`--url must be an http:// URL, not '${options.url ?? ""}'`);
}
if (url.protocol !== "http:") usageError(`--url must be an http:// URL, not '${options.url}'`);
const apiKey = process.env.GENGYUN_API_KEY;
if (!apiKey) usageError("set GENGYUN_API_KEY to an API key of the server");

/// One streamed completion; resolves (never rejects) to a request record for summarizeRound.
function streamCompletion(agent, prompt) {
  const payload = JSON.stringify({
    model: options.model,
    prompt,
    max_tokens: maxTokens,
    temperature: 0,
    stream: true,
  });
  const record = {sent: 0, events: [], end: null, promptTokens: null, completionTokens: null,
                  finishReason: null, error: null};
  return new Promise((resolve) => {
    let settled = false;
    const settle = (error) => {
      if (settled) return;
      settled = true;
      if (error) record.error = error;
      resolve(record);
    };
    let sawDone = false;
    const onEvent = (event, now) => {
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") {
          sawDone = true;
          continue;
        }
        const chunk = JSON.parse(data);
        if (chunk.error) return settle(`error event: ${chunk.error.message ?? JSON.stringify(chunk.error)}`);
        const choice = chunk.choices?.[0];
        if (choice?.text) record.events.push(now);
        if (choice?.finish_reason) {
          record.finishReason = choice.finish_reason;
          record.end = now;
        }
        if (chunk.usage) {
          record.promptTokens = chunk.usage.prompt_tokens;
          record.completionTokens = chunk.usage.completion_tokens;
        }
      }
    };
    const request = http.request(url, {
      method: "POST",
      agent,
      signal: AbortSignal.timeout(timeoutS * 1000),
      headers: {
        "Authorization": `Bearer ${apiKey}`,
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(payload),
      },
    }, (response) => {
      response.setEncoding("utf8");
      let text = "";
      response.on("data", (data) => {
        const now = performance.now();
        text += data;
        if (response.statusCode !== 200) return;
        for (let cut = text.indexOf("\n\n"); cut >= 0 && !settled; cut = text.indexOf("\n\n")) {
          const event = text.slice(0, cut);
          text = text.slice(cut + 2);
          try {
            onEvent(event, now);
          } catch (e) {
            settle(`bad SSE event '${event.slice(0, 80)}': ${e.message}`);
          }
        }
      });
      response.on("end", () => {
        if (response.statusCode !== 200) {
          let message;
          try {
            message = JSON.parse(text).error.message;
          } catch {
            message = text.slice(0, 200);  // not an OpenAI error body: show its start
          }
          return settle(`HTTP ${response.statusCode}: ${message}`);
        }
        if (!sawDone || record.finishReason === null || record.completionTokens === null)
          return settle("the stream ended without finish_reason, usage and [DONE]");
        if (record.events.length === 0)
          return settle(`the stream carried no text (finish_reason "${record.finishReason}" after ` +
                        `${record.completionTokens} tokens), so it has no TTFT`);
        settle(null);
      });
      response.on("error", (e) => settle(`response: ${e.message}`));
    });
    request.on("error", (e) =>
      settle(e.name === "AbortError" ? `no answer within ${timeoutS} s` : `request: ${e.message}`));
    record.sent = performance.now();
    request.end(payload);
  });
}

const prompts = Array.from({length: concurrency}, (_, i) => promptText(firstPrompt + i, words));
const agent = new http.Agent({keepAlive: false});
const start = performance.now();
const requests = await Promise.all(prompts.map((prompt) => streamCompletion(agent, prompt)));
console.log(JSON.stringify(summarizeRound({engine: "gengyun", concurrency, start, requests})));
