#!/usr/bin/env bash
# Fuzzes the module's parsers of untrusted input with cargo-fuzz (libFuzzer), one target
# after another, RUNS executions each; fails if any target crashes, hangs or runs out of
# memory. `scripts/fuzz.sh 20000` is the quick run CI makes.
#
#   scripts/fuzz.sh [RUNS] [TARGET...]     RUNS default 1000000; targets default: all
#
# FUZZ_SANITIZER=address builds with AddressSanitizer (default: none, much faster; the
# code is safe Rust, and overflow checks and debug assertions are on either way).
# A crash leaves its input in fuzz/artifacts/TARGET/; replay it with
# `RUSTC_BOOTSTRAP=1 target/tools/bin/cargo-fuzz run --sanitizer none TARGET FILE` in fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

RUNS="${1:-1000000}"
[ $# -gt 0 ] && shift
case "$RUNS" in '' | *[!0-9]*) echo "RUNS must be a number, not '$RUNS'" >&2; exit 2 ;; esac
ALL=(panel_request config amo_response)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
for t in "${TARGETS[@]}"; do
  [[ " ${ALL[*]} " == *" $t "* ]] || { echo "unknown target '$t'; known: ${ALL[*]}" >&2; exit 2; }
done

CARGO_FUZZ="$ROOT/target/tools/bin/cargo-fuzz"
if [ ! -x "$CARGO_FUZZ" ]; then
  echo "== installing cargo-fuzz 0.13.2 into target/tools (once)"
  cargo install --locked --root "$ROOT/target/tools" cargo-fuzz --version 0.13.2
fi

SANITIZER="${FUZZ_SANITIZER:-none}"
# libFuzzer's flags are nightly-only rustc flags; the stable compiler accepts them so.
export RUSTC_BOOTSTRAP=1
if [ "$SANITIZER" = address ]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"
fi

cd "$ROOT/fuzz"
echo "== building the targets"
"$CARGO_FUZZ" build --sanitizer "$SANITIZER"
failed=()
for t in "${TARGETS[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  args=(-runs="$RUNS" -max_len=4096 -timeout=10 -rss_limit_mb=2048
    -print_final_stats=1 -artifact_prefix="artifacts/$t/")
  [ -f "dicts/$t.dict" ] && args+=(-dict="dicts/$t.dict")
  dirs=("$corpus")
  [ -d "seeds/$t" ] && dirs+=("seeds/$t")
  log="$ROOT/target/fuzz-$t.log"
  echo "== $t: $RUNS runs (sanitizer $SANITIZER; progress in $log)"
  start=$(date +%s)
  set +e
  "$CARGO_FUZZ" run --sanitizer "$SANITIZER" "$t" "${dirs[@]}" -- "${args[@]}" >"$log" 2>&1
  status=$?
  set -e
  secs=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    echo "== $t: FAILED after ${secs}s (exit $status); log: $log; inputs: fuzz/artifacts/$t/"
    failed+=("$t")
  else
    echo "== $t: ${runs:-?} executions in ${secs}s, no crash"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}" >&2
  exit 1
fi
