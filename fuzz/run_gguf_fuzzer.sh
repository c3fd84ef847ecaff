#!/bin/sh
# Runs gguf_fuzzer for a bounded time on a corpus made from the reference GGUF files (whole
# small files and prefixes of larger ones, written under WORK_DIR, never into the source tree).
# Exits non-zero when libFuzzer finds a crash, leak, timeout or memory blow-up; the input that
# caused it is left in WORK_DIR/artifacts/.
# Usage: run_gguf_fuzzer.sh FUZZER WORK_DIR TESTDATA_DIR SECONDS
set -eu
fuzzer=$1 work=$2 testdata=$3 seconds=$4
here=$(dirname "$0")

if [ ! -x "$fuzzer" ]; then
  echo "gguf_fuzz_bounded: $fuzzer not found; build the gguf_fuzzer target first" >&2
  exit 1
fi
rm -rf "$work/corpus" "$work/artifacts"
mkdir -p "$work/corpus" "$work/artifacts"
if [ -d "$testdata" ]; then
  for f in lora/qwen2-tiny-lora-b.gguf lora/qwen2-tiny-lora-a.gguf models/stories260K-f32.gguf \
           models/qwen2-tiny-q4_k_m.gguf tokenizer/llama-spm-vocab.gguf; do
    name=$(basename "$f" .gguf)
    head -c 65536 "$testdata/$f" > "$work/corpus/$name.64k"
    head -c 2048 "$testdata/$f" > "$work/corpus/$name.2k"
  done
else
  echo "gguf_fuzz_bounded: $testdata not found; fuzzing from an empty corpus"
fi
exec "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 -timeout=10 \
  -print_final_stats=1 -dict="$here/gguf.dict" -artifact_prefix="$work/artifacts/" "$work/corpus"
