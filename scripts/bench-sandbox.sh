#!/usr/bin/env bash
# How fast the sandbox amoCRM starts and answers, so it is never the bottleneck of a
# benchmark of the module: start-up time against its 1 s bound, and requests a second over
# loopback (keep-alive, from another process) against 1000/s, each printed as a ratio.
# Usage: bash scripts/bench-sandbox.sh [REQUESTS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-20000}
CONNECTIONS=${2:-4}

cargo build --quiet --release --bin amocrm-sandbox
SANDBOX="$PWD/target/release/amocrm-sandbox"
OUT=$(mktemp)
trap 'kill "$PID" 2>/dev/null || true; rm -f "$OUT"' EXIT

start=$(date +%s%N)
"$SANDBOX" --listen 127.0.0.1:0 --rate 0 >"$OUT" &
PID=$!
until [ -s "$OUT" ]; do sleep 0.001; done
startup_ms=$(( ($(date +%s%N) - start) / 1000000 ))
URL=$(head -n 1 "$OUT")

rate=$("$SANDBOX" load "$URL" "$REQUESTS" "$CONNECTIONS")

echo "machine: $(nproc) cores, $(uname -sr)"
awk -v s="$startup_ms" 'BEGIN { printf "start-up:   %6d ms          bound 1000 ms      ratio %.3f (lower is better)\n", s, s / 1000 }'
awk -v r="$rate" -v n="$REQUESTS" -v c="$CONNECTIONS" \
  'BEGIN { printf "throughput: %6d requests/s  target 1000/s      ratio %.1f  (%d requests, %d connections)\n", r, r / 1000, n, c }'
