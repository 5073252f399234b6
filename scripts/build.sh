#!/usr/bin/env bash
# Installs dependencies (when missing), configures and builds into ./build.
# Extra arguments go to the CMake configure step (e.g. -DOVSERVE_WERROR=ON).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja "$@" >/dev/null
cmake --build "$root/build" -j "$(nproc)"
