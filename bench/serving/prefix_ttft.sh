#!/usr/bin/env bash
# Time to first token of a request whose 1,000-token prefix another request has just computed
# (the prefix cache) against the first request's, on gengyun's HTTP server.
#
#   bench/serving/prefix_ttft.sh MODEL.gguf [THREADS] [ROUNDS]
#
# Each round takes a fresh prefix of 1,000 one-token words (prompts.mjs) and sends, one after
# the other, prefix + 24 words A, then prefix + 24 other words B, each as POST /v1/completions
# with max_tokens 1 (not streamed: the whole answer is the first token), and prints the two
# times (curl's time_total) and their ratio, then the median ratio. THREADS defaults to 2,
# ROUNDS to 3. GENGYUN: the binary (default build/gengyun).
set -euo pipefail

serving_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$serving_dir/start_gengyun.sh"
read_model_threads_rounds "$@"

make_work_dir

key=$("$gengyun" keys create --db "$work/bench.db" --name bench)
start_gengyun "$work" --model "bench=$model" --db "$work/bench.db" --threads "$threads"

# Seconds for one request with prompt text $1; its cached_tokens into $work/cached.
request() {
  node -e 'process.stdout.write(JSON.stringify({model: "bench", prompt: process.argv[1], max_tokens: 1, temperature: 0}))' "$1" >"$work/body.json"
  curl -sS -o "$work/answer.json" -w '%{time_total}' -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' --data-binary "@$work/body.json" "http://127.0.0.1:$port/v1/completions"
  node -p "require('$work/answer.json').usage.prompt_tokens_details.cached_tokens" >"$work/cached"
}

request "$(node "$serving_dir/prompts.mjs" 999999 64)" >/dev/null  # warm-up
ratios=()
for ((r = 1; r <= rounds; r++)); do
  prefix=$(node "$serving_dir/prompts.mjs" $((500000 + r)) 1000)
  first=$(request "$prefix$(node "$serving_dir/prompts.mjs" $((600000 + r)) 24)")
  second=$(request "$prefix$(node "$serving_dir/prompts.mjs" $((700000 + r)) 24)")
  ratio=$(node -p "($second / $first).toFixed(3)")
  ratios+=("$ratio")
  echo "round $r: first ${first} s, second ${second} s (cached_tokens $(<"$work/cached")), second/first $ratio"
done
echo "median second/first: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(((rounds + 1) / 2))p")"
