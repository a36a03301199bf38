#!/usr/bin/env bash
# Builds the live-update agent (agent/*.c) as static Linux binaries:
#   dist/agent/agent-linux-amd64   musl (musl-tools), about 80 KB
#   dist/agent/agent-linux-arm64   glibc static (gcc-aarch64-linux-gnu + libc6-dev-arm64-cross)
# Installs the Debian toolchains when missing (needs root then). Idempotent: rebuilds only when a
# source is newer than the binary. Called by scripts/build.mjs (so the .vsix ships the agent) and
# by scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/dist/agent"
log() { echo "build-agent: $*" >&2; }
source "$ROOT/scripts/lib/apt.sh"

CFLAGS=(-static -Os -std=gnu11 -Wall -Wextra -Werror -ffunction-sections -fdata-sections -Wl,--gc-sections -s)
SOURCES=("$ROOT"/agent/*.c)
HEADERS=("$ROOT"/agent/*.h)

fresh() { # binary -> 0 when newer than every source
  [[ -f "$1" ]] || return 1
  local f
  for f in "${SOURCES[@]}" "${HEADERS[@]}" "${BASH_SOURCE[0]}"; do [[ "$f" -nt "$1" ]] && return 1; done
  return 0
}

build() { # arch compiler package...
  local arch="$1" cc="$2" bin="$OUT/agent-linux-$1"
  shift 2
  fresh "$bin" && return 0
  command -v "$cc" >/dev/null 2>&1 || apt_install "$@"
  mkdir -p "$OUT"
  "$cc" "${CFLAGS[@]}" -o "$bin.tmp" "${SOURCES[@]}"
  mv "$bin.tmp" "$bin"
  log "built $bin ($(stat -c %s "$bin") bytes)"
}

build amd64 musl-gcc musl-tools
build arm64 aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross
