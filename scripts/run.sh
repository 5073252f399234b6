#!/usr/bin/env bash
# The main job: install dependencies and build if needed, then start the gRPC
# server (port 50051, /metrics on 9090) on the CPU backend. With no --model it
# serves a demo checkpoint (tiny LLaVA-OneVision, random weights, real Hugging
# Face format) generated on first use, so nothing is downloaded. Extra
# arguments go to `ovserve serve` (e.g. --model DIR --port 50052); set
# OVSERVE_MODEL=DIR to serve a real checkpoint.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/build.sh"
args=()
if [ -n "${OVSERVE_MODEL:-}" ]; then args+=(--model "$OVSERVE_MODEL"); fi
exec "$root/build/server/ovserve" serve "${args[@]}" "$@"
