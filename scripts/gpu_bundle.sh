#!/usr/bin/env bash
# Packs what the GPU checks need into .gpu-bundle/ (git-ignored), for a machine
# that has a GPU and the CUDA 13 runtime but not this project's build
# dependencies (the device tool's machines: nvcc, CMake and PyTorch, no gRPC or
# abseil): the CUDA tests and ovserve-bench-gpu (stripped), the CUDA plugin
# beside them, the shared libraries they need beyond glibc/libstdc++/CUDA, the
# tiny fixture model with two cases, and scripts/gpu_checks.sh. About 50 MB,
# under the device tool's 64 MiB. Build first (bash scripts/build.sh).
#   bash scripts/gpu_bundle.sh   then, on the GPU machine from the repository
#   root with .gpu-bundle carried:  bash .gpu-bundle/gpu_checks.sh "$OUT"
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
fixtures="${OVSERVE_FIXTURES:-$root/../shared/fixtures}"
out="$root/.gpu-bundle"
[ -f "$build/lib/libovserve_cuda.so" ] || { echo "gpu_bundle: no $build/lib/libovserve_cuda.so (a CUDA build)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/fixtures/cases"
bins=(tests/kernels/cuda_op_parity_test tests/engine/runner/cuda_golden_test
      tests/engine/parallel/nccl_tensor_parallel_test benchmarks/ovserve-bench-gpu)
for b in "${bins[@]}"; do
  cp "$build/$b" "$out/bin/"
  strip "$out/bin/$(basename "$b")"
done
# The plugin is looked for beside the executable (kernels/cuda_plugin.h).
cp "$build/lib/libovserve_cuda.so" "$out/bin/"
strip "$out/bin/libovserve_cuda.so"
# Shared libraries other than the C/C++ runtime and CUDA's.
for f in "$out"/bin/*; do ldd "$f"; done | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt|ld-linux[^/]*)\.so|/usr/local/cuda|libcud|libcublas|libnccl' |
  while read -r lib; do cp -L "$lib" "$out/lib/"; done
cp -r "$fixtures/tiny-llava-ov" "$out/fixtures/"
for c in text_only multi_image; do cp -r "$fixtures/cases/$c" "$out/fixtures/cases/"; done
cp "$root/scripts/gpu_checks.sh" "$out/"
du -sh "$out"
