#!/usr/bin/env bash
# ctest entry: runs openai_sdk_test.mjs under node's test runner. Without node
# or the installed `openai` package (scripts/install-deps.sh runs `npm ci`
# here) it SKIPs (exit 77), except under CI=true where that is a failure.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v node >/dev/null || [ ! -f "$here/node_modules/openai/package.json" ]; then
  echo "openai_sdk_test: node or tests/openai_sdk/node_modules/openai missing (npm ci --prefix tests/openai_sdk)"
  [ "${CI:-}" = "true" ] && exit 1
  exit 77
fi
cd "$here" && exec node --test --test-reporter=spec openai_sdk_test.mjs
