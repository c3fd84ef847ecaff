#!/usr/bin/env bash
# Embeddings of N short inputs: gengyun's batching engine against llama.cpp's embedding context
# on the same GGUF file and threads (issue 12's target: >= 3x).
#
#   bench/peer/embeddings.sh MODEL.gguf [THREADS] [N] [T]
#
# MODEL is an embedding model (e.g. `gengyun synth --shape qwen3-embedding-0.6b`, or a real
# Qwen3-Embedding GGUF). THREADS defaults to 2, N (inputs) to 64, T (random token ids per input,
# EOS appended by both where the model asks) to 16. Installs node-llama-cpp when missing
# (bench/peer/install.sh), then runs llama.cpp (embeddings.mjs) and `gengyun bench --embed`
# alternately, PAIRS times (default 3; each run's figure is the median of 3 repeats), and prints
# the medians over the pairs and the ratio gengyun / llama.cpp. Environment: GENGYUN (the
# binary, default build/gengyun), PAIRS.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 4 ]]; then
  echo "usage: $0 MODEL.gguf [THREADS] [N] [T]" >&2
  exit 2
fi
model=$1
threads=${2:-2}
n_inputs=${3:-64}
n_tokens=${4:-16}
pairs=${PAIRS:-3}

peer_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$peer_dir/../.." && pwd)
gengyun=${GENGYUN:-$repo_dir/build/gengyun}

[[ -f $model ]] || { echo "error: no model file '$model'" >&2; exit 1; }
[[ -x $gengyun ]] || { echo "error: no gengyun binary at '$gengyun' (build it, or set GENGYUN)" >&2; exit 1; }
for v in "$threads" "$n_inputs" "$n_tokens" "$pairs"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "error: THREADS, N, T and PAIRS must be positive integers, not '$v'" >&2; exit 2; }
done

"$peer_dir/install.sh"

results=$(mktemp)
errors=$(mktemp)
trap 'rm -f "$results" "$errors"' EXIT
for ((i = 1; i <= pairs; i++)); do
  echo "pair $i/$pairs: llama.cpp" >&2
  llama_json=$(node "$peer_dir/embeddings.mjs" "$model" "$threads" "$n_inputs" "$n_tokens")
  echo "  $llama_json" >&2
  echo "{\"engine\":\"llama.cpp\",\"result\":$llama_json}" >>"$results"
  echo "pair $i/$pairs: gengyun" >&2
  if ! gengyun_json=$("$gengyun" bench "$model" --embed "$n_inputs" --embed-tokens "$n_tokens" -t "$threads" --json 2>"$errors"); then
    cat "$errors" >&2
    exit 1
  fi
  echo "  $gengyun_json" >&2
  echo "{\"engine\":\"gengyun\",\"result\":$gengyun_json}" >>"$results"
done
node "$peer_dir/summarize_embeddings.mjs" "$model" "$results"
