// Prefill and decode speed of llama.cpp on one GGUF file, through node-llama-cpp's prebuilt
// CPU binaries: the peer that bench/peer/llamacpp.sh runs against `gengyun bench`.
//
//   node llamacpp_bench.mjs MODEL.gguf THREADS P N
//
// Loads the model (CPU only), warms it up with one token, then evaluates P random token ids
// (fixed seed, uniform over the vocabulary) as one batch and decodes N tokens greedily, one at
// a time. Prints one JSON object: tokens/s of both from llama.cpp's own timings
// (llama_perf_context, printed by context.printTimings()), from the wall clock around the
// calls (used when the timings cannot be read), and the ggml CPU variant that was loaded.
import {readFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, threadsArg, promptArg, genArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const nPrompt = Number(promptArg);
const nGen = Number(genArg);
if (!modelPath || !(threads >= 1) || !(nPrompt >= 1) || !(nGen >= 1)) {
  console.error("usage: node llamacpp_bench.mjs MODEL.gguf THREADS P N");
  process.exit(2);
}

const logLines = [];
const llama = await getLlama({
  gpu: false,
  build: "never",
  maxThreads: threads,
  logLevel: LlamaLogLevel.info,
  logger: (level, message) => logLines.push(message),
});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const context = await model.createContext({
  contextSize: nPrompt + nGen + 8,
  batchSize: nPrompt,
  threads: {ideal: threads, min: threads},
  sequences: 1,
  performanceTracking: true,
});
const sequence = context.getSequence();
// The CPU variant of ggml that llama.cpp picked for this CPU, from the libraries mapped.
const cpuBackend = /libggml-cpu-[\w-]+\.so/.exec(readFileSync("/proc/self/maps", "utf8"))?.[0] ?? "unknown";

// A 64-bit LCG with a fixed seed: speed does not depend on which ids they are.
const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
let state = 12345n;
const prompt = [];
for (let i = 0; i < nPrompt; ++i) {
  state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
  prompt.push(Number((state >> 33n) % BigInt(nVocab)));
}

/// llama.cpp's perf lines since the last print: {prompt: [ms, tokens], eval: [ms, runs]}.
async function takeTimings() {
  logLines.length = 0;
  await context.printTimings();
  const text = logLines.join("\n");
  const prompt = /prompt eval time =\s*([\d.]+) ms \/\s*(\d+) tokens/.exec(text);
  const evals = /\beval time =\s*([\d.]+) ms \/\s*(\d+) runs/.exec(text.replace(/prompt eval time/g, ""));
  return {
    prompt: prompt ? [Number(prompt[1]), Number(prompt[2])] : null,
    eval: evals ? [Number(evals[1]), Number(evals[2])] : null,
  };
}

await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, 1));
await sequence.clearHistory();
await takeTimings();

const tokens = sequence.evaluate(prompt, {temperature: 0, yieldEogToken: true});
let start = process.hrtime.bigint();
await tokens.next();  // the prompt as one batch, then the first token sampled from its logits
const prefillSeconds = Number(process.hrtime.bigint() - start) / 1e9;
const prefillTimings = await takeTimings();

start = process.hrtime.bigint();
for (let i = 0; i < nGen; ++i) await tokens.next();
const decodeSeconds = Number(process.hrtime.bigint() - start) / 1e9;
const decodeTimings = await takeTimings();
await tokens.return();

const perSecond = (count, ms) => (count * 1000) / ms;
const result = {
  threads,
  n_prompt: nPrompt,
  n_gen: nGen,
  prefill_wall_tokens_per_s: nPrompt / prefillSeconds,
  decode_wall_tokens_per_s: nGen / decodeSeconds,
  timings: prefillTimings.prompt && decodeTimings.eval ? "llama.cpp" : "wall clock",
  cpu_backend: cpuBackend,
};
result.prefill_tokens_per_s = prefillTimings.prompt
  ? perSecond(prefillTimings.prompt[1], prefillTimings.prompt[0])
  : result.prefill_wall_tokens_per_s;
result.decode_tokens_per_s = decodeTimings.eval
  ? perSecond(decodeTimings.eval[1], decodeTimings.eval[0])
  : result.decode_wall_tokens_per_s;
const warnings = [];
if (prefillTimings.prompt && prefillTimings.prompt[1] !== nPrompt)
  warnings.push(`llama.cpp timed ${prefillTimings.prompt[1]} prompt tokens, not ${nPrompt}`);
if (decodeTimings.eval && decodeTimings.eval[1] !== nGen)
  warnings.push(`llama.cpp timed ${decodeTimings.eval[1]} decode steps, not ${nGen}`);
if (warnings.length) result.warnings = warnings;
console.log(JSON.stringify(result));

await context.dispose();
await model.dispose();
await llama.dispose();
