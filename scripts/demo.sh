#!/usr/bin/env bash
# README command 1: set up a fresh machine and run the loop once on the bundled example —
# compile (gcc -static) → stage → thin image → push to the loopback registry → deploy when a
# cluster is configured (KUBECONFIG or ~/.kube/config with an allowed context).
# Extra arguments go to `tightloop run` (e.g. --force, --verbose); `watch` as the first one
# keeps it running and rebuilds on every save.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh
bash scripts/services.sh start
npm run --silent build
command=run
if [[ "${1:-}" == watch ]]; then command=watch; shift; fi
exec node dist/cli.cjs "$command" --config examples/hello-service/tightloop.yaml "$@"
