#!/usr/bin/env bash
# Builds the live-update agent (agent/*.c) as static Linux binaries:
#   dist/agent/agent-linux-amd64   musl (musl-tools), about 80 KB
#   dist/agent/agent-linux-arm64   musl too (gcc-aarch64-linux-gnu + musl-dev:arm64), about 130 KB
#     (static glibc made it 665 KB; musl-dev:arm64 needs dpkg's arm64 architecture, added here)
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

build() { # arch "compiler [flags]" package...
  local arch="$1" cc bin="$OUT/agent-linux-$1"
  read -r -a cc <<<"$2"
  shift 2
  fresh "$bin" && return 0
  command -v "${cc[0]}" >/dev/null 2>&1 || apt_install "$@"
  mkdir -p "$OUT"
  "${cc[@]}" "${CFLAGS[@]}" -o "$bin.tmp" "${SOURCES[@]}"
  mv "$bin.tmp" "$bin"
  log "built $bin ($(stat -c %s "$bin") bytes)"
}

# musl for arm64 is Debian's musl-dev:arm64 (Multi-Arch: same) used through its gcc specs with
# the cross compiler: the arm64 architecture must be known to dpkg for apt to install it.
MUSL_ARM64_SPECS=/usr/lib/aarch64-linux-musl/musl-gcc.specs
musl_arm64() {
  [[ -f "$MUSL_ARM64_SPECS" ]] && return 0
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "dpkg --add-architecture arm64 (for musl-dev:arm64)"
    dpkg --add-architecture arm64
    apt-get -o DPkg::Lock::Timeout=300 update -qq
  fi
  apt_install gcc-aarch64-linux-gnu musl-dev:arm64
}

build amd64 musl-gcc musl-tools
arm64_cc="aarch64-linux-gnu-gcc -specs $MUSL_ARM64_SPECS"
if ! fresh "$OUT/agent-linux-arm64" && ! (musl_arm64); then
  # Still a working agent, only bigger: better than no arm64 build at all.
  log "warning: musl-dev:arm64 could not be installed (no arm64 package lists?): the arm64 agent is linked against static glibc (~650 KB instead of ~130 KB)"
  arm64_cc="aarch64-linux-gnu-gcc"
fi
build arm64 "$arm64_cc" gcc-aarch64-linux-gnu
