#!/usr/bin/env bash
# What the tool-call grammar costs a free-text answer: the same chat request (48 tokens, seed 7,
# temperature 1) without tools and with one tool under tool_choice "auto" and
# parallel_tool_calls false (which the grammar enforces: masks per token before the lazy
# grammar, none before the call's tag after it), alternating, per round.
#
#   bench/serving/tool_grammar.sh MODEL.gguf [THREADS] [ROUNDS]
#
# Prints curl's time_total of both requests and their completion_tokens per round (a random
# model may end early or write a call: compare rounds of equal counts). THREADS defaults to 2,
# ROUNDS to 3. GENGYUN: the binary (default build/gengyun).
set -euo pipefail

serving_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$serving_dir/start_gengyun.sh"
read_model_threads_rounds "$@"
make_work_dir

key=$("$gengyun" keys create --db "$work/bench.db" --name bench --role admin)
start_gengyun "$work" --model "bench=$model" --db "$work/bench.db" --threads "$threads"

tools='"tools": [{"type": "function", "function": {"name": "get_weather", "parameters":
  {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
  "tool_choice": "auto", "parallel_tool_calls": false,'
# Seconds and completion tokens of one request; $1 is "" or the tools' fields.
request() {
  local seconds
  seconds=$(curl -sS --fail-with-body -o "$work/answer.json" -w '%{time_total}' \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data "{\"model\": \"bench\", $1 \"messages\": [{\"role\": \"user\", \"content\":
      \"Tell me a long story about the sea.\"}], \"max_tokens\": 48, \"seed\": 7,
      \"temperature\": 1}" "http://127.0.0.1:$port/v1/chat/completions")
  echo "$seconds s, $(node -e 'console.log(require(process.argv[1]).usage.completion_tokens)' \
    "$work/answer.json") tokens"
}
for ((r = 1; r <= rounds; r++)); do
  echo "round $r: no tools $(request "") | auto, parallel_tool_calls false $(request "$tools")"
done
