#!/usr/bin/env bash
# Prefill and decode speed of gengyun against llama.cpp on the same GGUF file and threads.
#
#   bench/peer/llamacpp.sh MODEL.gguf [THREADS] [P] [N]
#
# THREADS defaults to 2, P (prompt tokens, one batch) to 512, N (decoded tokens) to 128.
# Installs node-llama-cpp when missing (bench/peer/install.sh), then runs llama.cpp
# (llamacpp_bench.mjs) and `gengyun bench` alternately, PAIRS times (default 3), and prints
# the medians over the pairs and the ratio gengyun / llama.cpp. Environment: GENGYUN (the
# binary, default build/gengyun), PAIRS, and LLAMA_CPU_VARIANT: the ggml CPU variant llama.cpp
# must load (haswell, skylakex, icelake, ...: a libggml-cpu-VARIANT.so of node-llama-cpp's
# prebuilt CPU binaries) instead of the best one for this CPU (unset or empty: the best one).
# With it, llama.cpp runs from a temporary copy of node-llama-cpp that holds only that variant;
# pair it with GENGYUN_KERNELS (avx2, avx512) to compare both at one SIMD level, e.g. what an
# AVX2-only machine would run:
#
#   LLAMA_CPU_VARIANT=haswell GENGYUN_KERNELS=avx2 bench/peer/llamacpp.sh MODEL.gguf
set -euo pipefail

if [[ $# -lt 1 || $# -gt 4 ]]; then
  echo "usage: $0 MODEL.gguf [THREADS] [P] [N]" >&2
  exit 2
fi
model=$1
threads=${2:-2}
n_prompt=${3:-512}
n_gen=${4:-128}
pairs=${PAIRS:-3}

peer_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$peer_dir/../.." && pwd)
gengyun=${GENGYUN:-$repo_dir/build/gengyun}

[[ -f $model ]] || { echo "error: no model file '$model'" >&2; exit 1; }
[[ -x $gengyun ]] || { echo "error: no gengyun binary at '$gengyun' (build it, or set GENGYUN)" >&2; exit 1; }
for v in "$threads" "$n_prompt" "$n_gen" "$pairs"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "error: THREADS, P, N and PAIRS must be positive integers, not '$v'" >&2; exit 2; }
done

if [[ -n ${LLAMA_CPU_VARIANT:-} && ! $LLAMA_CPU_VARIANT =~ ^[a-z0-9_]+$ ]]; then
  echo "error: LLAMA_CPU_VARIANT must be a name like haswell, not '$LLAMA_CPU_VARIANT'" >&2
  exit 2
fi

"$peer_dir/install.sh"

results=$(mktemp)
errors=$(mktemp)
variant_dir=
trap 'rm -rf "$results" "$errors" ${variant_dir:+"$variant_dir"}' EXIT
# A TERM or INT sent to this script alone ends it after the step in progress (bash runs these
# traps once the foreground command returns), so the EXIT trap never races a copy still writing.
trap 'exit 130' INT
trap 'exit 143' TERM

# The peer's copy with one CPU variant (ggml loads the best-scoring libggml-cpu-*.so it finds
# beside the others; left alone it is the only one).
llama_dir=$peer_dir
if [[ -n ${LLAMA_CPU_VARIANT:-} ]]; then
  bins=node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
  if [[ ! -f $peer_dir/$bins/libggml-cpu-$LLAMA_CPU_VARIANT.so ]]; then
    echo "error: no CPU variant '$LLAMA_CPU_VARIANT' in $peer_dir/$bins; there are:" \
      $(cd "$peer_dir/$bins" && ls libggml-cpu-*.so | sed 's/^libggml-cpu-//; s/\.so$//') >&2
    exit 2
  fi
  variant_dir=$(mktemp -d)
  # Without the GPU and ARM packages (hundreds of MB, not loaded with gpu: false).
  tar -C "$peer_dir" -cf - --exclude='node_modules/@node-llama-cpp/linux-x64-*' \
    --exclude='node_modules/@node-llama-cpp/linux-arm*' . | tar -C "$variant_dir" -xf -
  find "$variant_dir/$bins" -name 'libggml-cpu-*.so' ! -name "libggml-cpu-$LLAMA_CPU_VARIANT.so" -delete
  llama_dir=$variant_dir
fi
for ((i = 1; i <= pairs; i++)); do
  echo "pair $i/$pairs: llama.cpp" >&2
  llama_json=$(node "$llama_dir/llamacpp_bench.mjs" "$model" "$threads" "$n_prompt" "$n_gen")
  echo "  $llama_json" >&2
  echo "{\"engine\":\"llama.cpp\",\"result\":$llama_json}" >>"$results"
  echo "pair $i/$pairs: gengyun" >&2
  if ! gengyun_json=$("$gengyun" bench "$model" -t "$threads" -p "$n_prompt" -n "$n_gen" -r 1 --json 2>"$errors"); then
    cat "$errors" >&2
    exit 1
  fi
  echo "  $gengyun_json" >&2
  echo "{\"engine\":\"gengyun\",\"result\":$gengyun_json}" >>"$results"
done
node "$peer_dir/summarize.mjs" "$model" "$results"
