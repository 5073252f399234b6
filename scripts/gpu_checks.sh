#!/usr/bin/env bash
# The GPU checks, from a bundle made by scripts/gpu_bundle.sh, in one run:
# every CUDA op against the CPU backend, the golden fixture cases on the GPU,
# NCCL tensor parallelism, then ovserve-bench-gpu. Logs and JSON go to the
# folder given (the device tool's $OUT). Each step has its own time limit so
# the whole run stays under 9 minutes (the device tool allows 10 per command).
# Usage: gpu_checks.sh OUT_DIR
set -uo pipefail
bundle="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: gpu_checks.sh OUT_DIR}"
mkdir -p "$out"
# CUDA's runtime, cuBLAS and NCCL: the toolkit's, or the pip wheels' (PyTorch images).
libs="$bundle/lib"
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do [ -d "$d" ] && libs="$libs:$d"; done
if py="$(command -v python3)"; then
  site="$("$py" -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null || true)"
  for d in "$site"/nvidia/*/lib; do [ -d "$d" ] && libs="$libs:$d"; done
fi
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OVSERVE_FIXTURES="$bundle/fixtures"
{ nvidia-smi -L; nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv; } >"$out/gpu.txt" 2>&1
status=0
run() {  # run NAME SECONDS COMMAND...: its output to OUT/NAME.log, its status remembered
  local name="$1" seconds="$2"
  shift 2
  echo "== $name"
  timeout "$seconds" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$out/$name.log"
  [ $rc -eq 0 ] || { echo "== $name: exit $rc"; status=1; }
}
run op_parity 90 "$bundle/bin/cuda_op_parity_test"
run golden 90 "$bundle/bin/cuda_golden_test"
run nccl 60 "$bundle/bin/nccl_tensor_parallel_test"
run bench 280 "$bundle/bin/ovserve-bench-gpu" --models 0.5b,7b --decode_batch 1,8,64,256 --prefill 7290 \
  --siglip_crops 16 --out "$out/gpu_limits.json"
exit $status
