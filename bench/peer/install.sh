#!/usr/bin/env bash
# Installs node-llama-cpp (the version pinned in bench/peer/package.json; its prebuilt CPU
# build of llama.cpp) into bench/peer/node_modules when it is missing or another version.
# Used by bench/peer/llamacpp.sh and bench/serving/run.sh.
set -euo pipefail

peer_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "error: node and npm are needed (Node.js 20)" >&2
  exit 1
fi
pinned=$(node -p "require('$peer_dir/package.json').dependencies['node-llama-cpp']")
installed=$(node -p "try { require('$peer_dir/node_modules/node-llama-cpp/package.json').version } catch { '' }")
if [[ $installed != "$pinned" ]]; then
  echo "installing node-llama-cpp@$pinned into $peer_dir/node_modules" >&2
  (cd "$peer_dir" && npm install --no-audit --no-fund >&2)
fi
