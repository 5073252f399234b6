#!/usr/bin/env bash
# Builds the libFuzzer target for media decoding (clang, ASan + UBSan) and runs
# it for a bounded time, seeded with the fixture media when present.
#   bash scripts/fuzz.sh [SECONDS]   (default 60)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
cmake -S "$root" -B "$root/build-fuzz" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_C_COMPILER=clang-14 -DOVSERVE_FUZZ=ON -DOVSERVE_ENABLE_CUDA=OFF \
  -DOVSERVE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$root/build-fuzz" --target media_decoder_fuzzer -j "$(nproc)"
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
media="${OVSERVE_FIXTURES:-$root/../shared/fixtures}/media"
[ -d "$media" ] && cp "$media"/* "$corpus"/
log="$corpus/fuzz.log"
status=0
"$root/build-fuzz/tests/fuzz/media_decoder_fuzzer" "$corpus" -max_total_time="$seconds" \
  -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
# The summary (or, on a finding, the sanitizer report) — libFuzzer's status decides.
grep -E "stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY|^Done" "$log" || tail -40 "$log"
exit "$status"
