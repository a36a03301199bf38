#!/usr/bin/env bash
# Real services for integration tests: a Docker engine and a loopback-only registry.
#
#   scripts/services.sh start    start what is missing (installs Debian packages if needed)
#   scripts/services.sh stop     stop only what *we* started (PIDs in .tightloop-services/)
#   scripts/services.sh status   show what is running and whether we own it
#   scripts/services.sh env      print export lines for tests: eval "$(scripts/services.sh env)"
#
# Nothing can be pulled from any registry on these machines, so the test base image
# (tightloop-test/busybox:1) is built FROM scratch with Debian's static busybox.
# Needs root (apt-get, dockerd). Safe to run repeatedly and concurrently (flock).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.tightloop-services"
REGISTRY_ADDR="127.0.0.1:5000"          # loopback only: tests must never reach other hosts
BASE_IMAGE="tightloop-test/busybox:1"
DEFAULT_DOCKER_HOST="unix:///var/run/docker.sock"

log() { echo "services: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- helpers -------------------------------------------------------------------------

# Keep local state out of git (other tooling dirs too, so a fresh clone is clean).
ensure_gitignore() {
  local f="$ROOT/.gitignore" entry
  touch "$f"
  # make sure the file ends with a newline before appending
  [[ -s "$f" && -n "$(tail -c1 "$f")" ]] && echo >>"$f"
  for entry in .tightloop-services/ node_modules/ dist/ out/ .cache/ test-results/ '*.vsix' .tightloop/; do
    grep -qxF "$entry" "$f" || echo "$entry" >>"$f"
  done
}

source "$ROOT/scripts/lib/apt.sh"

# PID from a pid file if that process is still the command we started, else empty.
owned_pid() { # name expected-argv0-basename
  local f="$STATE/$1.pid" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 0
  # argv[0] must match: PIDs get reused, and we must never kill someone else's process
  [[ "$(basename "$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -1)")" == "$2" ]] && echo "$pid"
  return 0
}

docker_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
# Any HTTP answer (200, or 401 from an authenticated registry) means a registry is there.
registry_up() { [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$REGISTRY_ADDR/v2/" || true)" != 000 ]]; }

wait_for() { # seconds pid-or-empty description check-function
  local deadline=$((SECONDS + $1))
  until "$4"; do
    [[ -z "$2" ]] || kill -0 "$2" 2>/dev/null || die "$3 exited early; see $STATE/$3.log"
    ((SECONDS < deadline)) || die "$3 not ready after $1 s; see $STATE/$3.log"
    sleep 0.5
  done
}

# --- start ---------------------------------------------------------------------------

start_dockerd() {
  if docker_up; then log "docker engine already running ($(docker version --format '{{.Server.Version}}'))"; return; fi
  [[ -z "${DOCKER_HOST:-}" || "$DOCKER_HOST" == "$DEFAULT_DOCKER_HOST" ]] \
    || die "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local engine for it"
  apt_install docker.io
  [[ -z "$(owned_pid dockerd dockerd)" ]] || die "our dockerd is running but does not answer; see $STATE/dockerd.log"
  log "starting dockerd (log: $STATE/dockerd.log)"
  # setsid: own session, so it outlives this shell and the caller's terminal/job.
  # 9>&-: do not inherit the start/stop lock, or it would stay held as long as dockerd runs.
  setsid dockerd --host "$DEFAULT_DOCKER_HOST" </dev/null >>"$STATE/dockerd.log" 2>&1 9>&- &
  echo $! >"$STATE/dockerd.pid"
  wait_for 60 "$!" dockerd docker_up
  log "docker engine ready ($(docker version --format '{{.Server.Version}}'))"
}

start_registry() {
  if registry_up; then log "registry already answering on $REGISTRY_ADDR"; return; fi
  apt_install docker-registry
  # Our own config: Debian's default listens on all interfaces and requires htpasswd.
  mkdir -p "$STATE/registry-data"
  cat >"$STATE/registry.yml" <<EOF
version: 0.1
log: { level: info }
storage:
  filesystem: { rootdirectory: $STATE/registry-data }
  delete: { enabled: true }
http: { addr: $REGISTRY_ADDR }
EOF
  log "starting docker-registry on $REGISTRY_ADDR (log: $STATE/registry.log)"
  setsid docker-registry serve "$STATE/registry.yml" </dev/null >>"$STATE/registry.log" 2>&1 9>&- &
  echo $! >"$STATE/registry.pid"
  wait_for 30 "$!" registry registry_up
  log "registry ready"
}

ensure_base_image() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
  apt_install busybox-static
  local ctx; ctx="$(mktemp -d)"
  cp /bin/busybox "$ctx/busybox"
  # No symlinks/applets installed: run applets as `busybox echo ok` via the entrypoint.
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\n' >"$ctx/Dockerfile"
  log "building $BASE_IMAGE"
  # Classic builder: the CLI has no buildx plugin here, and FROM scratch needs nothing else.
  DOCKER_BUILDKIT=0 docker build -q -t "$BASE_IMAGE" "$ctx" >/dev/null 2>"$ctx/err" \
    || { cat "$ctx/err" >&2; rm -rf "$ctx"; die "building $BASE_IMAGE failed"; }
  rm -rf "$ctx"
}

cmd_start() {
  apt_install curl   # for the registry health check (present on most machines)
  start_dockerd
  start_registry
  ensure_base_image
  cmd_status
}

# --- stop / status / env -------------------------------------------------------------

stop_one() { # name argv0
  local pid; pid="$(owned_pid "$1" "$2")"
  if [[ -n "$pid" ]]; then
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid"
    # dockerd gives containers up to 15 s to stop; allow a little more, then force.
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then log "$1 still running, SIGKILL"; kill -KILL "$pid"; fi
  fi
  rm -f "$STATE/$1.pid"
}

cmd_stop() {
  stop_one registry docker-registry
  stop_one dockerd dockerd
}

owner() { # name argv0 -> "ours (pid N)" or "not ours"
  local pid; pid="$(owned_pid "$1" "$2")"
  if [[ -n "$pid" ]]; then echo "ours (pid $pid)"; else echo "not ours"; fi
}

cmd_status() {
  if docker_up; then
    echo "docker:   running, engine $(docker version --format '{{.Server.Version}}'), $(owner dockerd dockerd)"
  else echo "docker:   not running"; fi
  if registry_up; then echo "registry: running on $REGISTRY_ADDR, $(owner registry docker-registry)"
  else echo "registry: not running"; fi
  if docker_up && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then echo "image:    $BASE_IMAGE present"
  else echo "image:    $BASE_IMAGE missing"; fi
}

cmd_env() {
  echo "export TIGHTLOOP_REGISTRY=$REGISTRY_ADDR"
  echo "export TIGHTLOOP_TEST_IMAGE=$BASE_IMAGE"
  if [[ -n "${DOCKER_HOST:-}" && "$DOCKER_HOST" != "$DEFAULT_DOCKER_HOST" ]]; then
    echo "export DOCKER_HOST=$DOCKER_HOST"
  fi
}

# --- main ----------------------------------------------------------------------------

case "${1:-}" in
  start | stop)
    mkdir -p "$STATE"
    ensure_gitignore
    exec 9>"$STATE/lock"; flock 9   # serialise concurrent start/stop
    "cmd_$1" ;;
  status | env) "cmd_$1" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
