#!/usr/bin/env bash
# Cold start to first token on gengyun's HTTP server: a model registered from a folder
# (serve --models) and not yet loaded gets one request; its time to the first token is the
# load plus one prefill step. Then the same request on the loaded model, then the model is
# unloaded (POST /admin/models/bench/unload) for the next round.
#
#   bench/serving/cold_start.sh MODEL.gguf [THREADS] [ROUNDS]
#
# Each request is POST /v1/completions with max_tokens 1 (not streamed: the whole answer is the
# first token); prints curl's time_total of the cold and the warm request and the registry's
# own cold_start_ms (GET /admin/models), per round, then the medians. THREADS defaults to 2,
# ROUNDS to 3. The file stays in the OS page cache between rounds (the first round may read
# it from disk); DROP_CACHES=1 (root) drops the page cache before every cold request.
# GENGYUN: the binary (default build/gengyun).
set -euo pipefail

serving_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$serving_dir/start_gengyun.sh"
read_model_threads_rounds "$@"
if [[ ${DROP_CACHES:-0} == 1 && ! -w /proc/sys/vm/drop_caches ]]; then
  echo "error: DROP_CACHES=1 needs write access to /proc/sys/vm/drop_caches (root)" >&2; exit 1
fi

make_work_dir

mkdir "$work/models"
ln -s "$(realpath "$model")" "$work/models/bench.gguf"
key=$("$gengyun" keys create --db "$work/bench.db" --name bench --role admin)
start_gengyun "$work" --models "$work/models" --db "$work/bench.db" --threads "$threads"
base="http://127.0.0.1:$port"

# Seconds for one one-token completion (fails on any status but 200).
request() {
  curl -sS --fail-with-body -o "$work/answer.json" -w '%{time_total}' \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data '{"model": "bench", "prompt": "The capital of France is", "max_tokens": 1, "temperature": 0}' \
    "$base/v1/completions"
}
admin() {
  curl -sS --fail-with-body -H "Authorization: Bearer $key" "$@"
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }

colds=() warms=() loads=()
for ((r = 1; r <= rounds; r++)); do
  [[ ${DROP_CACHES:-0} != 1 ]] || { sync; echo 3 >/proc/sys/vm/drop_caches; }
  cold=$(request)
  load_ms=$(admin "$base/admin/models" |
    node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      const m = JSON.parse(s).data.find(m => m.id === "bench"); console.log(m.cold_start_ms); })')
  warm=$(request)
  admin -o /dev/null -X POST "$base/admin/models/bench/unload"
  colds+=("$cold") warms+=("$warm") loads+=("$load_ms")
  echo "round $r: cold ${cold} s (registry cold_start_ms ${load_ms}), warm ${warm} s"
done
echo "median: cold $(median "${colds[@]}") s, cold_start_ms $(median "${loads[@]}"), warm $(median "${warms[@]}") s"
