// The table of bench/peer/llamacpp.sh: medians over the pairs of runs of each engine and the
// ratio gengyun / llama.cpp.
//
//   node summarize.mjs MODEL.gguf RESULTS
//
// RESULTS holds one JSON object per line: {"engine": "llama.cpp" | "gengyun", "result": {...}}
// where result is the output of llamacpp_bench.mjs or `gengyun bench --json` (both have
// threads, n_prompt, n_gen, prefill_tokens_per_s and decode_tokens_per_s).
import {readFileSync} from "node:fs";

const [model, resultsPath] = process.argv.slice(2);
const runs = readFileSync(resultsPath, "utf8").split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const engines = ["llama.cpp", "gengyun"];
const stats = {};
for (const engine of engines) {
  const results = runs.filter((r) => r.engine === engine).map((r) => r.result);
  if (results.length === 0) throw new Error(`no runs of ${engine} in ${resultsPath}`);
  stats[engine] = {
    runs: results,
    prefill: median(results.map((r) => r.prefill_tokens_per_s)),
    decode: median(results.map((r) => r.decode_tokens_per_s)),
  };
}

const first = stats.gengyun.runs[0];
const fixed = (x, digits = 1) => x.toFixed(digits);
const list = (values) => values.map((x) => fixed(x)).join(", ");
const rows = [
  ["", "prefill tokens/s", "decode tokens/s"],
  ...engines.map((e) => [e, fixed(stats[e].prefill), fixed(stats[e].decode)]),
  ["gengyun / llama.cpp", fixed(stats.gengyun.prefill / stats["llama.cpp"].prefill, 2),
   fixed(stats.gengyun.decode / stats["llama.cpp"].decode, 2)],
];
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
const line = (r) => "| " + r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(" | ") + " |";

console.log(`model: ${model}`);
console.log(`cpu: ${first.cpu_model}; threads: ${first.threads}; prompt: ${first.n_prompt} tokens (one batch); ` +
            `decode: ${first.n_gen} tokens; pairs: ${stats.gengyun.runs.length} (medians)`);
console.log("");
console.log(line(rows[0]));
console.log("|" + widths.map((w, c) => (c === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|");
for (const r of rows.slice(1)) console.log(line(r));
console.log("");
for (const e of engines) {
  console.log(`${e} runs: prefill ${list(stats[e].runs.map((r) => r.prefill_tokens_per_s))}; ` +
              `decode ${list(stats[e].runs.map((r) => r.decode_tokens_per_s))}`);
}
const llamaRuns = stats["llama.cpp"].runs;
console.log(`llama.cpp CPU backend: ${[...new Set(llamaRuns.map((r) => r.cpu_backend ?? "unknown"))].join(", ")}; ` +
            `speeds from its own timings (llama_perf_context) in ` +
            `${llamaRuns.filter((r) => r.timings === "llama.cpp").length} of ${llamaRuns.length} runs; ` +
            `wall clock around the node-llama-cpp calls: prefill ${list(llamaRuns.map((r) => r.prefill_wall_tokens_per_s))}, ` +
            `decode ${list(llamaRuns.map((r) => r.decode_wall_tokens_per_s))}`);
for (const w of llamaRuns.flatMap((r) => r.warnings ?? [])) console.log(`warning: ${w}`);
console.log(`gengyun: kernels ${[...new Set(stats.gengyun.runs.map((r) => r.kernels ?? "unknown"))].join(", ")}; ` +
            `${(first.weight_bytes_per_token / 1e6).toFixed(1)} MB of weights per decoded token, ` +
            `read bandwidth ${list(stats.gengyun.runs.map((r) => r.read_bandwidth_gb_per_s))} GB/s, ` +
            `decode bandwidth utilization ${stats.gengyun.runs.map((r) => fixed(100 * r.decode_bandwidth_utilization)).join(", ")}%`);
