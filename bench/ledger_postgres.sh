#!/usr/bin/env bash
# The ledger benchmark (bench/ledger_bench.cpp) on PostgreSQL: starts a server of its own
# (Debian's `postgresql`: initdb and pg_ctl in a temporary directory, a free loopback port,
# fsync on as in production, as the user `postgres` when run as root), runs
# build/ledger_bench against a new database, stops and removes the server.
#
#   bench/ledger_postgres.sh [REQUESTS] [THREADS] [MODE] [GENERATION]
#
# REQUESTS, THREADS, MODE (writer | direct) and GENERATION (0, MS or MIN-MAX milliseconds in
# flight between admission and settlement) are ledger_bench's (defaults there). LEDGER_BENCH:
# the binary (default build/ledger_bench; `cmake --build build --target ledger_bench`).
set -euo pipefail

[[ $# -le 4 ]] || { echo "usage: $0 [REQUESTS] [THREADS] [MODE] [GENERATION]" >&2; exit 2; }
for v in "${@:1:2}"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "error: REQUESTS and THREADS must be positive integers, not '$v'" >&2; exit 2; }
done
[[ $# -lt 3 || $3 == writer || $3 == direct ]] || { echo "error: MODE must be writer or direct, not '$3'" >&2; exit 2; }
[[ $# -lt 4 || $4 =~ ^[0-9]+(-[0-9]+)?$ ]] || { echo "error: GENERATION must be milliseconds MS or MIN-MAX, not '$4'" >&2; exit 2; }
repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=${LEDGER_BENCH:-$repo_dir/build/ledger_bench}
[[ -x $bench ]] || { echo "error: no ledger_bench at '$bench' (cmake --build build --target ledger_bench)" >&2; exit 1; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n $bin && -x $bin/initdb ]] || { echo "error: PostgreSQL's server programs are missing (Debian package postgresql)" >&2; exit 1; }

work=$(mktemp -d)
as_owner() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) != 0 ]] || chown postgres "$work"
cleanup() {
  as_owner "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
as_owner "$bin/initdb" -D "$work/data" -A trust -U gengyun -E UTF8 >"$work/initdb.log" 2>&1 ||
  { cat "$work/initdb.log" >&2; exit 1; }
as_owner "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1" start >/dev/null ||
  { cat "$work/server.log" >&2; exit 1; }
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U gengyun bench
"$bench" "postgresql://gengyun@127.0.0.1:$port/bench" "$@"
