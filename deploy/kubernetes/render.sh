#!/usr/bin/env bash
# Renders the plain manifests from the Helm chart, for users without Helm:
#   gpu/ovserve.yaml  the chart's defaults (one GPU per pod)
#   cpu/ovserve.yaml  the chart with ci/cpu-values.yaml (CPU-only pods)
# Usage: render.sh          rewrite both files
#        render.sh --check  exit 1 (with a diff) when a file differs from the chart
# Needs a helm binary: $HELM, or helm on PATH (deploy/README.md says where to get one offline).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chart="$here/../helm/ovserve"
helm="${HELM:-helm}"
check=false
[ "${1:-}" = "--check" ] && check=true

render() {  # render OUT [helm template args...]
  local out="$1"
  shift
  {
    echo "# Rendered from deploy/helm/ovserve by deploy/kubernetes/render.sh: do not edit by hand."
    "$helm" template ovserve "$chart" "$@"
  } >"$out"
}

status=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for flavor in gpu cpu; do
  args=()
  [ "$flavor" = cpu ] && args=(-f "$chart/ci/cpu-values.yaml")
  render "$tmp/ovserve.yaml" "${args[@]}"
  if $check; then
    if ! diff -u "$here/$flavor/ovserve.yaml" "$tmp/ovserve.yaml"; then
      echo "render.sh: $flavor/ovserve.yaml is out of date; run deploy/kubernetes/render.sh" >&2
      status=1
    fi
  else
    cp "$tmp/ovserve.yaml" "$here/$flavor/ovserve.yaml"
    echo "wrote $here/$flavor/ovserve.yaml"
  fi
done
exit $status
