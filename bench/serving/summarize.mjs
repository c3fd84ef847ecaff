// The table of bench/serving/run.sh: per concurrency N, the medians over the rounds of each
// engine (output tokens/s, TTFT and ITL percentiles) and the ratio gengyun / llama.cpp, then
// every round's figures and the checks that make them comparable. Exits 1 when a round had
// failed requests (its engine's figures for that N are left out).
//
//   node summarize.mjs RESULTS MODEL THREADS PROMPT_TOKENS MAX_TOKENS
//
// RESULTS holds one round per line: the JSON of loadgen.mjs or llamacpp_serving.mjs.
import {readFileSync} from "node:fs";

const args = process.argv.slice(2);
if (args.length !== 5) {
  console.error("usage: node summarize.mjs RESULTS MODEL THREADS PROMPT_TOKENS MAX_TOKENS");
  process.exit(2);
}
const [resultsPath, model, threads] = args;
const [promptTokens, maxTokens] = args.slice(3).map(Number);
const rounds = readFileSync(resultsPath, "utf8").split("\n").filter((line) => line.trim())
  .map((line) => JSON.parse(line));

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const engines = ["llama.cpp", "gengyun"];
const metrics = [
  ["output tokens/s", (r) => r.output_tokens_per_s, 1],
  ["TTFT p50 ms", (r) => r.ttft_ms.p50, 1],
  ["TTFT p99 ms", (r) => r.ttft_ms.p99, 1],
  ["ITL p50 ms", (r) => r.itl_ms.p50, 2],
  ["ITL p99 ms", (r) => r.itl_ms.p99, 2],
];
const concurrencies = [...new Set(rounds.map((r) => r.concurrency))];
const rows = [["N", "engine", ...metrics.map(([name]) => name)]];
const notes = [];
const warnings = [];
let failed = false;

for (const n of concurrencies) {
  const medians = {};
  for (const engine of engines) {
    const mine = rounds.filter((r) => r.concurrency === n && r.engine === engine);
    const bad = mine.filter((r) => r.errors.length > 0);
    if (mine.length === 0 || bad.length > 0) {
      failed ||= bad.length > 0;
      rows.push([String(n), engine, ...metrics.map(() => (mine.length ? "failed" : "-"))]);
      const counts = {};
      for (const e of bad.flatMap((r) => r.errors)) counts[e] = (counts[e] ?? 0) + 1;
      for (const [message, count] of Object.entries(counts))
        notes.push(`N=${n} ${engine}: ${count} of ${bad.length * n} requests in ${bad.length} ` +
                   `of ${mine.length} rounds failed: ${message}`);
      continue;
    }
    medians[engine] = metrics.map(([, get]) => median(mine.map(get)));
    rows.push([String(n), engine, ...medians[engine].map((x, i) => x.toFixed(metrics[i][2]))]);
    notes.push(`N=${n} ${engine} rounds: ` + mine.map((r) =>
      `${r.output_tokens_per_s.toFixed(1)} tokens/s, TTFT ${r.ttft_ms.p50.toFixed(0)}/${r.ttft_ms.p99.toFixed(0)} ms, ` +
      `ITL ${r.itl_ms.p50.toFixed(1)}/${r.itl_ms.p99.toFixed(1)} ms`).join("; "));
    for (const r of mine) {
      if (r.prompt_tokens.length !== 1 || r.prompt_tokens[0] !== promptTokens)
        warnings.push(`N=${n} ${engine}: prompts of ${r.prompt_tokens.join(", ")} tokens, not ${promptTokens}`);
      if (r.completion_tokens !== n * maxTokens)
        warnings.push(`N=${n} ${engine}: ${r.completion_tokens} output tokens in a round, not ${n * maxTokens}`);
      if (Object.keys(r.finish_reasons).some((reason) => reason !== "length"))
        warnings.push(`N=${n} ${engine}: finish reasons ${JSON.stringify(r.finish_reasons)}`);
      if (r.events !== r.completion_tokens)
        warnings.push(`N=${n} ${engine}: ${r.events} streamed events for ${r.completion_tokens} tokens ` +
                      `(some events carried several tokens; their ITL gaps span them)`);
    }
  }
  if (medians["llama.cpp"] && medians.gengyun)
    rows.push([String(n), "gengyun / llama.cpp",
               ...medians.gengyun.map((x, i) => (x / medians["llama.cpp"][i]).toFixed(2))]);
}

const pairs = Math.max(...engines.map((e) => rounds.filter((r) => r.engine === e).length)) / concurrencies.length;
const llamaRound = rounds.find((r) => r.engine === "llama.cpp");
console.log(`model: ${model}`);
console.log(`threads: ${threads}; prompts: ${promptTokens} tokens, distinct; output: ${maxTokens} tokens ` +
            `per request (temperature 0); rounds per N and engine: ${pairs} (medians)`);
if (llamaRound)
  console.log(`llama.cpp: ${llamaRound.cpu_backend}, one context of N sequences, batch size ${llamaRound.batch_size}`);
console.log("tokens/s: higher is better; TTFT and ITL: lower is better");
console.log("");
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
const line = (r) => "| " + r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(" | ") + " |";
console.log(line(rows[0]));
console.log("|" + widths.map((w, c) => (c < 2 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|");
for (const r of rows.slice(1)) console.log(line(r));
console.log("");
for (const note of notes) console.log(note);
for (const warning of warnings) console.log(`warning: ${warning}`);
if (warnings.length === 0 && !failed)
  console.log(`checks: every round produced N x ${maxTokens} tokens from ${promptTokens}-token prompts, ` +
              `all finished by length, one streamed event per token`);
process.exit(failed ? 1 : 0);
