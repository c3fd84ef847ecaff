// The table of bench/peer/embeddings.sh: medians over the pairs of runs of each engine and the
// ratio gengyun / llama.cpp.
//
//   node summarize_embeddings.mjs MODEL.gguf RESULTS
//
// RESULTS holds one JSON object per line: {"engine": "llama.cpp" | "gengyun", "result": {...}}
// where result is the output of embeddings.mjs or `gengyun bench --embed N --json` (both have
// threads, n_inputs, n_tokens and inputs_per_s).
import {readFileSync} from "node:fs";

const [model, resultsPath] = process.argv.slice(2);
const runs = readFileSync(resultsPath, "utf8").split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
const median = (values) => {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};

const stats = {};
for (const engine of ["llama.cpp", "gengyun"]) {
  const results = runs.filter((r) => r.engine === engine).map((r) => r.result);
  if (results.length === 0) throw new Error(`no runs of ${engine} in ${resultsPath}`);
  stats[engine] = {runs: results, inputs_per_s: median(results.map((r) => r.inputs_per_s))};
}
const g = stats.gengyun;
const l = stats["llama.cpp"];
const first = g.runs[0];
console.log(`model: ${model}`);
console.log(`threads: ${first.threads}; ${first.n_inputs} inputs of ${l.runs[0].n_tokens} random token ids ` +
            `(gengyun computes ${first.n_tokens} per input, EOS included); pairs: ${g.runs.length} (medians)`);
console.log("");
console.log("| | inputs/s |");
console.log("|---|---:|");
console.log(`| llama.cpp (embedding context) | ${l.inputs_per_s.toFixed(1)} |`);
console.log(`| gengyun (batching engine) | ${g.inputs_per_s.toFixed(1)} |`);
console.log(`| gengyun / llama.cpp | ${(g.inputs_per_s / l.inputs_per_s).toFixed(2)} |`);
console.log("");
console.log(`llama.cpp runs: ${l.runs.map((r) => r.inputs_per_s.toFixed(1)).join(", ")}; CPU backend ` +
            `${[...new Set(l.runs.map((r) => r.cpu_backend))].join(", ")}`);
console.log(`gengyun runs: ${g.runs.map((r) => r.inputs_per_s.toFixed(1)).join(", ")}; kernels ${first.kernels}; ` +
            `${first.steps_per_run} engine steps per run`);
