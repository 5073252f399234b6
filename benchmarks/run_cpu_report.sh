#!/usr/bin/env bash
# The standard CPU scenarios of benchmarks/README.md, end to end: starts
# `ovserve serve` on the 0.5B-shaped random checkpoint (--threads 2), runs
# ovserve-bench for each scenario (each under the benchmark lock, so runs on a
# shared machine never overlap), writes the results, machine.md, summary.md and, when
# /usr/bin/python3 has matplotlib, the charts.
#
#   build/server/ovserve-make-model --preset 0.5b --out /tmp/ov-0.5b
#   bash benchmarks/run_cpu_report.sh            # MODEL, BUILD, OUT, LOCK override
#
# Request counts are small because one 768x768 AnyRes request (3.7k visual
# tokens through SigLIP and the LLM) takes minutes on 2 cores: text sends
# max(3, 2 x concurrency) requests per level, image 2 at concurrency 1 and 4 at
# 4, video 2.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODEL="${MODEL:-/tmp/ov-0.5b}"
BUILD="${BUILD:-$ROOT/build}"
OUT="${OUT:-$ROOT/benchmarks/results/cpu}"
LOCK="${LOCK:-/tmp/ovserve-bench.lock}"
SERVER="$BUILD/server/ovserve"
BENCH="$BUILD/benchmarks/ovserve-bench"

[[ -f "$MODEL/config.json" ]] || {
  echo "no checkpoint at $MODEL: $BUILD/server/ovserve-make-model --preset 0.5b --out $MODEL" >&2
  exit 1
}
mkdir -p "$OUT"
LOG="$(mktemp /tmp/ovserve-report-server.XXXXXX.log)"

"$SERVER" serve --model "$MODEL" --host 127.0.0.1 --port 0 --http-port -1 --metrics-port -1 --threads 2 \
  --kv-cache-bytes 2147483648 >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT
PORT=""
for _ in $(seq 1 300); do
  PORT="$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -1)"
  [[ -n "$PORT" ]] && break
  kill -0 $SERVER_PID 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.2
done
[[ -n "$PORT" ]] || { echo "the server did not start" >&2; cat "$LOG" >&2; exit 1; }
echo "server on 127.0.0.1:$PORT (log $LOG)"

RESULTS=()  # this run's files (OUT also holds other programs' JSON)
bench() {  # NAME ARGS...
  local name="$1"
  shift
  echo "== $name"
  flock "$LOCK" "$BENCH" --server "127.0.0.1:$PORT" --wait-for-server-s 300 \
    --out "$OUT/$name.json" --label "$name" "$@"
  RESULTS+=("$OUT/$name.json")
}

START=$(date +%s)
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
bench text_128in_64out --workload text --input-len 128 --output-len 64 --seed 1 \
  --max-concurrency 1,4,16 --num-prompts 3 --prompts-per-concurrency 2 --warmup-requests 1
bench image_768x768 --workload image --image-sizes 768x768 --image-format jpeg \
  --input-len 32 --output-len 64 --seed 2 --max-concurrency 1,4 --num-prompts 2 \
  --prompts-per-concurrency 1
bench video_8f --workload video --video-frames 8 --video-size 384x384 --input-len 32 \
  --output-len 64 --seed 3 --max-concurrency 1 --num-prompts 2
END=$(date +%s)
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

{
  echo "# Machine of the CPU results"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) by \`benchmarks/run_cpu_report.sh\` in $((END - START)) s."
  echo "Server: \`ovserve serve --model $MODEL --threads 2 --kv-cache-bytes 2147483648\` (CPU backend,"
  echo "0.5B-shaped random bf16 weights from \`ovserve-make-model --preset 0.5b\`), ovserve-bench on the"
  echo "same machine. Load average (1/5/15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER (the machine"
  echo "is shared: other processes may have competed for the 2 cores)."
  echo
  echo '```'
  lscpu | grep -vE '^(Flags|Vulnerability)'
  echo "SIMD flags: $(grep -o -wE 'avx2|fma|f16c|avx512f|avx512_bf16|avx512_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo
  free -h
  echo
  uname -sr
  g++ --version | head -1
  echo '```'
} >"$OUT/machine.md"

if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$ROOT/benchmarks/plot_results.py" "${RESULTS[@]}" --out-dir "$OUT" --x concurrency
else
  echo "no matplotlib for /usr/bin/python3 (apt-get install python3-matplotlib): charts skipped"
fi
/usr/bin/python3 "$ROOT/benchmarks/plot_results.py" "${RESULTS[@]}" --summary | tee "$OUT/summary.md"
