#!/usr/bin/env bash
# The main job: build if needed, then generate on the tiny LLaVA-OneVision
# checkpoint that ships with ../shared/fixtures (no download). Pass ovserve-run
# flags to override, e.g. --prompt "..." --max-tokens 32 or --model DIR.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/build.sh"
model="${OVSERVE_MODEL:-${OVSERVE_FIXTURES:-$root/../shared/fixtures}/tiny-llava-ov}"
if [ ! -f "$model/config.json" ] && [[ " $* " != *" --model "* ]]; then
  echo "run.sh: no model at $model; pass --model DIR (a Hugging Face LLaVA-OneVision folder)" >&2
  exit 1
fi
exec "$root/build/server/ovserve-run" --model "$model" --prompt "Describe a sunny day." --max-tokens 24 "$@"
