#!/usr/bin/env bash
# Builds the libFuzzer targets (release, -sanitize=fuzzer) and runs each for a fixed time.
#
#   Fuzz/run.sh [SECONDS_EACH] [TARGET ...]     default: 60 s each, all three targets
#
# Targets: FuzzVerifier (tokens, unsigned and signed), FuzzRTCMessage (the /rtc decoder and
# the meeting state machine), FuzzSettings (API settings). Each starts from the committed
# seeds in Fuzz/Corpus/<target> and keeps what it finds in .build-fuzz/corpus/<target> (not
# committed). A crash leaves its input in .build-fuzz/crashes/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(FuzzVerifier FuzzRTCMessage FuzzSettings)

FLAGS=(-c release --build-path .build-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -parse-as-library)
for target in "${TARGETS[@]}"; do
  swift build "${FLAGS[@]}" --product "$target" 2>&1 | grep -E "error|warning: unre|Compiling Fuzz|Build complete" || true
done
BIN=$(swift build "${FLAGS[@]}" --show-bin-path)

mkdir -p .build-fuzz/crashes
status=0
for target in "${TARGETS[@]}"; do
  seeds="Fuzz/Corpus/$target"
  work=".build-fuzz/corpus/$target"
  mkdir -p "$work"
  echo "== $target: ${SECONDS_EACH}s"
  if ! "$BIN/$target" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix=".build-fuzz/crashes/$target-" "$work" "$seeds" 2> ".build-fuzz/$target.log"; then
    echo "!! $target found a crash: see .build-fuzz/$target.log and .build-fuzz/crashes/"
    tail -n 40 ".build-fuzz/$target.log"
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|cov: " ".build-fuzz/$target.log" | tail -n 3
done
exit $status
