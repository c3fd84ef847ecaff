// llama.cpp's side of the serving benchmark, in-process: N sequences of one llama.cpp context
// generate concurrently, as its server's parallel slots do. One round, one JSON line of
// figures (stats.mjs) on stdout, measured like loadgen.mjs measures gengyun.
//
//   node llamacpp_serving.mjs MODEL.gguf THREADS N WORDS MAX_TOKENS FIRST_PROMPT
//
// Uses the node-llama-cpp that bench/peer/install.sh installs (its prebuilt CPU build of
// llama.cpp). The context has N sequences (createContext({sequences: N}), each
// prompt + MAX_TOKENS + 8 tokens long) and node-llama-cpp's default batching: whatever the
// sequences have queued in one event-loop cycle goes into one llama_decode of at most
// batchSize (512) tokens, shared out evenly between sequences ("maximumParallelism"), so the
// N prompts are prefilled together in chunks and then the N sequences decode one token each
// per step. Sequence i evaluates BOS (when the model adds one) + the tokens of prompts.mjs
// prompt FIRST_PROMPT+i of WORDS words and samples greedily (temperature 0) until MAX_TOKENS
// tokens or an end-of-generation token (then finish_reason "stop", as the server reports it).
// Each token is an output event; TTFT runs from the sequence's evaluate() call.
import {readFileSync} from "node:fs";
import {createRequire} from "node:module";
import {performance} from "node:perf_hooks";
import {pathToFileURL} from "node:url";
import {promptText} from "./prompts.mjs";
import {summarizeRound} from "./stats.mjs";

const args = process.argv.slice(2);
const [modelPath, ...numbers] = args;
const isCount = (text, min) => /^\d+$/.test(text ?? "") && Number(text) >= min;
if (args.length !== 6 || !isCount(numbers[0], 1) || !isCount(numbers[1], 1) ||
    !isCount(numbers[2], 1) || !isCount(numbers[3], 1) || !isCount(numbers[4], 0)) {
  console.error("usage: node llamacpp_serving.mjs MODEL.gguf THREADS N WORDS MAX_TOKENS FIRST_PROMPT\n" +
                "(THREADS, N, WORDS, MAX_TOKENS: integers >= 1; FIRST_PROMPT: an integer >= 0)");
  process.exit(2);
}
const [threads, concurrency, words, maxTokens, firstPrompt] = numbers.map(Number);

const peerPackage = new URL("../peer/package.json", import.meta.url);
let entry;
try {
  entry = createRequire(peerPackage).resolve("node-llama-cpp");
} catch {
  console.error("error: node-llama-cpp is not installed in bench/peer (run bench/peer/install.sh)");
  process.exit(1);
}
const {getLlama, LlamaLogLevel} = await import(pathToFileURL(entry).href);

const llama = await getLlama({
  gpu: false,
  build: "never",
  maxThreads: threads,
  logLevel: LlamaLogLevel.error,
  logger: (level, message) => process.stderr.write(`llama.cpp: ${message}\n`),
});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const bos = model.tokens.shouldPrependBosToken && model.tokens.bos !== null ? [model.tokens.bos] : [];
const prompts = Array.from({length: concurrency},
                           (_, i) => [...bos, ...model.tokenize(promptText(firstPrompt + i, words))]);
const promptTokens = Math.max(...prompts.map((p) => p.length));
const context = await model.createContext({
  contextSize: promptTokens + maxTokens + 8,
  sequences: concurrency,
  threads: {ideal: threads, min: threads},
});
const sequences = Array.from({length: concurrency}, () => context.getSequence());
// The CPU variant of ggml that llama.cpp picked for this CPU, from the libraries mapped.
const cpuBackend = /libggml-cpu-[\w-]+\.so/.exec(readFileSync("/proc/self/maps", "utf8"))?.[0] ?? "unknown";

// Warm-up: one token through the context, then forget it.
await sequences[0].evaluateWithoutGeneratingNewTokens(prompts[0].slice(0, 1));
await sequences[0].clearHistory();

async function generate(sequence, prompt) {
  const record = {sent: performance.now(), events: [], end: null, promptTokens: prompt.length,
                  completionTokens: 0, finishReason: "length", error: null};
  const tokens = sequence.evaluate(prompt, {temperature: 0, yieldEogToken: true});
  try {
    while (record.completionTokens < maxTokens) {
      const {value: token, done} = await tokens.next();
      if (done) throw new Error(`generation ended after ${record.completionTokens} tokens`);
      record.end = performance.now();
      record.events.push(record.end);
      ++record.completionTokens;
      if (model.isEogToken(token)) {
        record.finishReason = "stop";
        break;
      }
    }
  } catch (e) {
    record.error = e.message;
  } finally {
    await tokens.return();
  }
  return record;
}

const start = performance.now();
const requests = await Promise.all(sequences.map((sequence, i) => generate(sequence, prompts[i])));
console.log(JSON.stringify({
  ...summarizeRound({engine: "llama.cpp", concurrency, start, requests}),
  context_size: context.contextSize,
  batch_size: context.batchSize,
  cpu_backend: cpuBackend,
}));

await context.dispose();
await model.dispose();
await llama.dispose();
