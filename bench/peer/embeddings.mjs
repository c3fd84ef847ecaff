// Embeddings of N short inputs with llama.cpp's embedding context (node-llama-cpp's
// createEmbeddingContext, CPU only): the peer that bench/peer/embeddings.sh runs against
// `gengyun bench --embed`.
//
//   node embeddings.mjs MODEL.gguf THREADS N T [REPEATS]
//
// Loads the embedding model, embeds one input to warm up, then REPEATS times (default 3)
// embeds N inputs of T random token ids each (a fixed-seed LCG, uniform over the vocabulary;
// node-llama-cpp appends EOS where the model asks, as gengyun does) with getEmbeddingFor, one
// after another as the embedding context takes them. Prints one JSON object: inputs/s of each
// run and their median, and the ggml CPU variant that was loaded.
import {readFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, threadsArg, inputsArg, tokensArg, repeatsArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const nInputs = Number(inputsArg);
const nTokens = Number(tokensArg);
const repeats = Number(repeatsArg ?? 3);
if (!modelPath || !(threads >= 1) || !(nInputs >= 1) || !(nTokens >= 1) || !(repeats >= 1)) {
  console.error("usage: node embeddings.mjs MODEL.gguf THREADS N T [REPEATS]");
  process.exit(2);
}

const llama = await getLlama({gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const context = await model.createEmbeddingContext({
  contextSize: nTokens + 8,
  batchSize: nTokens + 8,
  threads,
});
const cpuBackend = /libggml-cpu-[\w-]+\.so/.exec(readFileSync("/proc/self/maps", "utf8"))?.[0] ?? "unknown";

const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
let state = 12345n;
const inputs = [];
for (let i = 0; i < nInputs; ++i) {
  const ids = [];
  for (let k = 0; k < nTokens; ++k) {
    state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    ids.push(Number((state >> 33n) % BigInt(nVocab)));
  }
  inputs.push(ids);
}

await context.getEmbeddingFor(inputs[0]);
const runs = [];
let width = 0;
for (let r = 0; r < repeats; ++r) {
  const start = process.hrtime.bigint();
  for (const input of inputs) width = (await context.getEmbeddingFor(input)).vector.length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  runs.push(nInputs / seconds);
}
const sorted = [...runs].sort((a, b) => a - b);
const mid = Math.floor(sorted.length / 2);
const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
console.log(JSON.stringify({
  threads,
  n_inputs: nInputs,
  n_tokens: nTokens,
  n_embd: width,
  repeats,
  inputs_per_s: median,
  runs_inputs_per_s: runs,
  cpu_backend: cpuBackend,
}));

await context.dispose();
await model.dispose();
await llama.dispose();
