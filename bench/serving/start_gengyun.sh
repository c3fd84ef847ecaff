# Sourced by the bench/serving scripts (not run on its own).
#
# read_model_threads_rounds MODEL.gguf [THREADS] [ROUNDS]: a script's arguments (THREADS
# default 2, ROUNDS 3) into model, threads and rounds, and the binary into gengyun ($GENGYUN or
# build/gengyun); exits 2 on bad arguments, 1 when the model or the binary is missing.
read_model_threads_rounds() {
  [[ $# -ge 1 && $# -le 3 ]] || { echo "usage: $0 MODEL.gguf [THREADS] [ROUNDS]" >&2; exit 2; }
  model=$1
  threads=${2:-2}
  rounds=${3:-3}
  local v
  for v in "$threads" "$rounds"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "error: THREADS and ROUNDS must be positive integers, not '$v'" >&2; exit 2; }
  done
  gengyun=${GENGYUN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/gengyun}
  [[ -f $model ]] || { echo "error: no model file '$model'" >&2; exit 1; }
  [[ -x $gengyun ]] || { echo "error: no gengyun binary at '$gengyun' (build it, or set GENGYUN)" >&2; exit 1; }
}

# make_work_dir: a new temporary folder in `work`, removed when the script exits, after the
# server start_gengyun started (if any) is stopped.
make_work_dir() {
  work=$(mktemp -d)
  server_pid=""
  trap remove_work_dir EXIT
}
remove_work_dir() {
  [[ -z $server_pid ]] || { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  rm -rf "$work"
}

# start_gengyun DIR ARGS... runs
# "$gengyun" serve --listen 127.0.0.1:0 ARGS... in the background, its log in DIR/serve.log and
# its access log in DIR/access.log, waits (up to 120 s) until it listens and sets server_pid
# and port. On failure it prints the log and exits 1. The caller kills server_pid when done.
start_gengyun() {
  local dir=$1
  shift
  # Created before the server starts, so the first read of it cannot race the redirection.
  : >"$dir/serve.log"
  "$gengyun" serve --listen 127.0.0.1:0 "$@" >"$dir/access.log" 2>"$dir/serve.log" &
  server_pid=$!
  port=""
  for ((i = 0; i < 1200; i++)); do
    port=$(sed -n 's|^gengyun: serving .* on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$dir/serve.log")
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || { echo "error: gengyun serve exited:" >&2; cat "$dir/serve.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "error: gengyun serve did not start within 120 s:" >&2
  cat "$dir/serve.log" >&2
  exit 1
}
