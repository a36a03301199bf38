#!/usr/bin/env bash
# README command 2 (and .ci/run): install what the tests need, then run every suite against
# real parts — a real Docker engine and registry (started here if not running), real processes
# and files, a fake Kubernetes API server spoken to by the real client, and a real VS Code.
# TIGHTLOOP_SKIP_E2E=1 skips the VS Code end-to-end suite (it needs ~3 min of installs once).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export NEEDRESTART_SUSPEND=1

bash scripts/ensure-deps.sh
# Stop on exit only what this run started (services.sh stop kills recorded PIDs only): services
# a developer already had running stay up.
if compgen -G '.tightloop-services/*.pid' >/dev/null; then had_services=1; else had_services=0; fi
bash scripts/services.sh start
if [[ "$had_services" == 0 ]]; then trap 'bash scripts/services.sh stop || true' EXIT; fi
eval "$(bash scripts/services.sh env)"

npm run --silent build
npm run --silent typecheck
npm run --silent lint
node scripts/run-tests.mjs test/unit test/extension-unit test/docker test/agent test/kube
if [[ "${TIGHTLOOP_SKIP_E2E:-0}" != 1 ]]; then
  bash scripts/e2e-setup.sh
  npm run --silent test:e2e
fi
