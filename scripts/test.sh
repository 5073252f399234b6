#!/usr/bin/env bash
# Builds (if needed) and runs every test with ctest. Golden tests read
# ../shared/fixtures (or $OVSERVE_FIXTURES); without them they report SKIPPED,
# except under CI=true where a missing fixture fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/build.sh" "$@"
ctest --test-dir "$root/build" --output-on-failure -j 2
