#!/bin/sh
# Runs chat_template_fuzzer for a bounded time on a corpus of the real chat templates (copied
# under WORK_DIR, never into the source tree). Exits non-zero when libFuzzer finds a crash,
# leak, timeout or memory blow-up; the input that caused it is left in WORK_DIR/artifacts/.
# Usage: run_chat_template_fuzzer.sh FUZZER WORK_DIR TESTDATA_DIR SECONDS
set -eu
fuzzer=$1 work=$2 testdata=$3 seconds=$4
here=$(dirname "$0")

if [ ! -x "$fuzzer" ]; then
  echo "chat_template_fuzz_bounded: $fuzzer not found; build the chat_template_fuzzer target first" >&2
  exit 1
fi
rm -rf "$work/corpus" "$work/artifacts"
mkdir -p "$work/corpus" "$work/artifacts"
if [ -d "$testdata/chat/templates" ]; then
  cp "$testdata"/chat/templates/*.jinja "$work/corpus/"
else
  echo "chat_template_fuzz_bounded: $testdata/chat/templates not found; fuzzing from an empty corpus"
fi
exec "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=8192 -timeout=10 \
  -print_final_stats=1 -dict="$here/jinja.dict" -artifact_prefix="$work/artifacts/" "$work/corpus"
