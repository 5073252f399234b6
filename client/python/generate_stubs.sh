#!/usr/bin/env bash
# Generates the Python gRPC stubs of the ovserve API with the system protoc (Debian:
# protobuf-compiler, protobuf-compiler-grpc) into OUT_DIR:
#   OUT_DIR/ovserve/v1/ovserve_pb2.py, OUT_DIR/ovserve/v1/ovserve_pb2_grpc.py
# Use them with OUT_DIR on PYTHONPATH (`from ovserve.v1 import ovserve_pb2`), or point
# ovserve_client.py at them with --stubs OUT_DIR / OVSERVE_PY_STUBS=OUT_DIR.
#
#   bash client/python/generate_stubs.sh OUT_DIR
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out="$1"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
plugin=/usr/bin/grpc_python_plugin
[ -x "$plugin" ] || { echo "$plugin not found (Debian: protobuf-compiler-grpc)" >&2; exit 1; }
mkdir -p "$out"
protoc -I "$repo/proto" --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$plugin" "$repo/proto/ovserve/v1/ovserve.proto"
echo "generate_stubs: wrote $out/ovserve/v1/ovserve_pb2.py and ovserve_pb2_grpc.py"
