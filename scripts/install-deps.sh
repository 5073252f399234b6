#!/usr/bin/env bash
# Installs the Debian packages ovserve builds against. Idempotent: does nothing
# when every package is already present. The list is the one source of truth
# (deploy images read it too).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mapfile -t pkgs < <(grep -v '^\s*#' "$here/packages.txt" | grep -v '^\s*$')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The deploy checks (tests/deploy) also need npm/node (deploy/get-tools.sh fetches helm and
# the validators with it) and kubectl (kustomize). This machine's image may ship them from
# elsewhere; where it does not, Debian's packages provide them.
command -v npm >/dev/null || missing+=(npm)
command -v kubectl >/dev/null || missing+=(kubernetes-client)
# npm packages of the tests (the official openai client), from package-lock.json.
install_npm() {
  local dir="$here/../tests/openai_sdk"
  if [ -f "$dir/package-lock.json" ] && command -v npm >/dev/null &&
     [ ! -f "$dir/node_modules/openai/package.json" ]; then
    echo "install-deps: npm ci in tests/openai_sdk"
    npm ci --prefix "$dir" --no-audit --no-fund >/dev/null
  fi
}
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  install_npm
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_npm
echo "install-deps: done"
