#!/usr/bin/env bash
# Serving benchmark: N concurrent streams on gengyun's HTTP server against N parallel sequences
# of one llama.cpp context, same GGUF file, same threads, same prompts.
#
#   bench/serving/run.sh MODEL.gguf [THREADS]
#
# THREADS defaults to 2. Starts `gengyun serve` on a free loopback port with a temporary
# database and API key, checks that every prompt word is one token of the model's vocabulary,
# and sends one short request (warm-up; its prompt_tokens tells whether the model adds BOS).
# Then, for each N, runs PAIRS rounds of each engine alternately (llama.cpp, gengyun, ...):
# llamacpp_serving.mjs (node-llama-cpp, installed by bench/peer/install.sh) and loadgen.mjs
# (N streaming POST /v1/completions), both with prompts of PROMPT_TOKENS tokens (BOS included)
# distinct across the whole run, MAX_TOKENS output tokens at temperature 0. Prints the medians
# per N and the ratio gengyun / llama.cpp (summarize.mjs) and stops the server on exit.
# Environment: PAIRS (default 3), CONCURRENCY (default "1 4 16 64"), PROMPT_TOKENS (256),
# MAX_TOKENS (128), ROUND_TIMEOUT_S (limit on one round, 900), GENGYUN (the binary, default
# build/gengyun). Exits 1 when a round had failed requests (they are listed).
set -euo pipefail

usage() {
  echo "usage: $0 MODEL.gguf [THREADS]" >&2
  echo "environment: PAIRS (3), CONCURRENCY (\"1 4 16 64\"), PROMPT_TOKENS (256), MAX_TOKENS (128)," >&2
  echo "             ROUND_TIMEOUT_S (900), GENGYUN (build/gengyun)" >&2
  exit 2
}
[[ $# -ge 1 && $# -le 2 ]] || usage
model=$1
threads=${2:-2}
pairs=${PAIRS:-3}
concurrency=${CONCURRENCY:-1 4 16 64}
prompt_tokens=${PROMPT_TOKENS:-256}
max_tokens=${MAX_TOKENS:-128}
round_timeout_s=${ROUND_TIMEOUT_S:-900}

serving_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$serving_dir/start_gengyun.sh"
repo_dir=$(cd "$serving_dir/../.." && pwd)
gengyun=${GENGYUN:-$repo_dir/build/gengyun}

positive='^[1-9][0-9]*$'
for v in "$threads" "$pairs" "$prompt_tokens" "$max_tokens" "$round_timeout_s"; do
  [[ $v =~ $positive ]] || { echo "error: THREADS, PAIRS, PROMPT_TOKENS, MAX_TOKENS and ROUND_TIMEOUT_S must be positive integers, not '$v'" >&2; usage; }
done
read -r -a ns <<<"$concurrency"
((${#ns[@]})) || { echo "error: CONCURRENCY is empty" >&2; usage; }
for n in "${ns[@]}"; do
  [[ $n =~ $positive ]] || { echo "error: CONCURRENCY must list positive integers, not '$n'" >&2; usage; }
done
((prompt_tokens >= 2)) || { echo "error: PROMPT_TOKENS must be at least 2" >&2; usage; }
[[ -f $model ]] || { echo "error: no model file '$model'" >&2; exit 1; }
[[ -x $gengyun ]] || { echo "error: no gengyun binary at '$gengyun' (build it, or set GENGYUN)" >&2; exit 1; }
"$repo_dir/bench/peer/install.sh"

work=$(mktemp -d)
server_pid=""
child_pid=""
# Stops a process this script started: SIGTERM, then SIGKILL when it is still there after 10 s.
stop() {
  kill "$1" 2>/dev/null || return 0
  for ((t = 0; t < 100; t++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  [[ -z $child_pid ]] || stop "$child_pid"
  [[ -z $server_pid ]] || stop "$server_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

# Runs "$@" with its stdout into $work/out and returns its status. It runs in the background
# and is waited for, so that a signal to this script ends the script at once (cleanup stops it).
run_child() {
  "$@" >"$work/out" &
  child_pid=$!
  local status=0
  wait "$child_pid" || status=$?
  child_pid=""
  return "$status"
}

# Every word of the prompts must be one token, or the prompts would not have PROMPT_TOKENS.
node "$serving_dir/prompts.mjs" --all-words >"$work/words.txt"
n_words=$(wc -w <"$work/words.txt")
n_ids=$("$gengyun" tokenize "$model" --file "$work/words.txt" | wc -w)
if ((n_ids != n_words)); then
  echo "error: the $n_words prompt words (bench/serving/prompts.mjs) are $n_ids tokens in $model's" \
       "vocabulary, not one each; the benchmark needs a byte-level BPE vocabulary such as Qwen's or Llama 3's" >&2
  exit 1
fi

GENGYUN_API_KEY=$("$gengyun" keys create --db "$work/bench.db" --name bench)
export GENGYUN_API_KEY
start_gengyun "$work" --model "bench=$model" --db "$work/bench.db" --threads "$threads"
echo "gengyun serve: pid $server_pid, http://127.0.0.1:$port" >&2

# One round of loadgen.mjs against the server; its JSON line in $work/out.
loadgen() {
  run_child node "$serving_dir/loadgen.mjs" --url "http://127.0.0.1:$port" \
    --model bench --timeout-s "$round_timeout_s" "$@"
}

# Warm-up with prompt 0, which no round uses; its prompt_tokens minus its words is the BOS count.
loadgen --concurrency 1 --words "$prompt_tokens" --max-tokens 8 --first-prompt 0
bos=$(node -p "const r = $(<"$work/out"); r.errors.length ? 'error: ' + r.errors[0] : r.prompt_tokens[0] - $prompt_tokens")
[[ $bos == 0 || $bos == 1 ]] || { echo "error: the warm-up request failed or has an odd prompt: $bos" >&2; exit 1; }
words=$((prompt_tokens - bos))

results=$work/results.jsonl
next_prompt=1
for n in "${ns[@]}"; do
  for ((i = 1; i <= pairs; i++)); do
    echo "N=$n pair $i/$pairs: llama.cpp" >&2
    if ! run_child timeout "$round_timeout_s" node "$serving_dir/llamacpp_serving.mjs" "$model" \
           "$threads" "$n" "$words" "$max_tokens" "$next_prompt"; then
      echo "error: the llama.cpp round failed (or ran past ROUND_TIMEOUT_S=$round_timeout_s s)" >&2
      exit 1
    fi
    echo "  $(<"$work/out")" >&2
    cat "$work/out" >>"$results"
    echo "N=$n pair $i/$pairs: gengyun" >&2
    loadgen --concurrency "$n" --words "$words" --max-tokens "$max_tokens" --first-prompt "$next_prompt"
    echo "  $(<"$work/out")" >&2
    cat "$work/out" >>"$results"
    kill -0 "$server_pid" 2>/dev/null || { echo "error: gengyun serve died:" >&2; cat "$work/serve.log" >&2; exit 1; }
    next_prompt=$((next_prompt + n))
  done
done
node "$serving_dir/summarize.mjs" "$results" "$model" "$threads" "$prompt_tokens" "$max_tokens"
