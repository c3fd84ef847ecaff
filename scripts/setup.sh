#!/usr/bin/env bash
# Installs gengyun's build dependencies from Debian's packages (when missing) and builds it
# into build/. The single source of set-up truth: the README's quick start and .ci/run use it.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ cmake ninja-build pkg-config
  libboost-dev libcpp-httplib-dev nlohmann-json3-dev libsqlite3-dev libpq-dev postgresql libcli11-dev libspdlog-dev libfmt-dev
  libpcre2-dev libssl-dev libcurl4-openssl-dev libgtest-dev libgmock-dev libbenchmark-dev libutf8proc-dev libyaml-cpp-dev
  clang-14 libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The official openai npm SDK for the end-to-end tests of tests/sdk (Node.js from Debian when
# the machine has none; npm ci installs the version pinned in tests/sdk/package-lock.json).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing nodejs npm" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
pinned=$(node -p "require('./tests/sdk/package.json').dependencies.openai")
installed=$(node -p "try { require('./tests/sdk/node_modules/openai/package.json').version } catch { '' }")
if [[ $installed != "$pinned" ]]; then
  (cd tests/sdk && npm ci --no-audit --no-fund --loglevel=error)
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

# The quick start's model and the tests' data are in ../shared/testdata: a clone that is not
# beside shared/ builds all the same (the tests skip without it), and is told so here, before
# the quick start's `run` fails to open the model.
if [[ ! -d ../shared/testdata ]]; then
  echo "setup: built gengyun into build/, but ../shared/testdata is missing: the quick start's" \
    "model (../shared/testdata/models/stories260K-f32.gguf) and the tests' data live there;" \
    "clone this repository beside shared/ (without it the tests skip; README, 'Using a model" \
    "you downloaded', runs a model of your own)" >&2
fi
