#!/usr/bin/env bash
# The loop a developer scripts by hand with plain CLIs, timed step by step: the baseline every
# Tightloop figure in bench/ is compared with. Prints one "step milliseconds" line per step.
#
#   plain-cli.sh ARTIFACT CONTEXT_DIR IMAGE [deploy args…]
#
#   ARTIFACT     the compiled binary (already built, or built by $COMPILE first)
#   CONTEXT_DIR  build context: holds the Dockerfile; the binary is copied next to it
#   IMAGE        repo:tag to build and push
# Environment:
#   COMPILE      optional shell command run first (in $COMPILE_DIR), timed as "compile"
#   KUBECONFIG + DEPLOY=deployment/NAME + CONTAINER   real cluster: kubectl set image + rollout status
#   KUBE_API + KUBE_TOKEN + DEPLOY + CONTAINER        fake API server (kubectl cannot use it: no
#                                                     discovery endpoints): curl PATCH, then poll the
#                                                     rollout status every 50 ms (as rollout status does)
set -euo pipefail
artifact=$1 context=$2 image=$3
ns=${NAMESPACE:-default}

now_us() { local t; t=$(date +%s%N); echo $((t / 1000)); }
step() { # name command…
  local name=$1 t0; shift
  t0=$(now_us)
  "$@" >/dev/null
  echo "$name $(( $(now_us) - t0 ))" | awk '{ printf "%s %.3f\n", $1, $2 / 1000 }'
}

rollout_done() { # the same condition `kubectl rollout status` waits for
  curl -sf -H "Authorization: Bearer $KUBE_TOKEN" "$KUBE_API/apis/apps/v1/namespaces/$ns/deployments/${DEPLOY#deployment/}" |
    jq -e '.status.observedGeneration >= .metadata.generation
           and (.status.updatedReplicas // 0) == .spec.replicas
           and (.status.replicas // 0) == .spec.replicas
           and (.status.availableReplicas // 0) == .spec.replicas' >/dev/null
}
poll_rollout() { until rollout_done; do sleep 0.05; done; }

patch_image() {
  curl -sf -X PATCH -H "Authorization: Bearer $KUBE_TOKEN" -H 'Content-Type: application/strategic-merge-patch+json' \
    --data "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"$CONTAINER\",\"image\":\"$image\"}]}}}}" \
    "$KUBE_API/apis/apps/v1/namespaces/$ns/deployments/${DEPLOY#deployment/}"
}

if [[ -n "${COMPILE:-}" ]]; then step compile bash -c "cd '${COMPILE_DIR:-.}' && $COMPILE"; fi
step cp cp "$artifact" "$context/"
step build docker build -q -t "$image" "$context"
step push docker push "$image"
if [[ -n "${DEPLOY:-}" && -n "${KUBE_API:-}" ]]; then
  step deploy patch_image
  step ready poll_rollout
elif [[ -n "${DEPLOY:-}" && -n "${KUBECONFIG:-}" ]]; then
  step deploy kubectl -n "$ns" set image "$DEPLOY" "$CONTAINER=$image"
  step ready kubectl -n "$ns" rollout status "$DEPLOY" --timeout=5m
fi
