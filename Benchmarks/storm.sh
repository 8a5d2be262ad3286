#!/usr/bin/env bash
# Join storm with the Swift load generator (admit-storm): release server on core 0, generator
# on core 1, each one core. Prints bare connects, joins into 200 rooms of 10, a room of 1000
# filling (joins/s and events delivered per second) and memory per participant. Signalling only:
# `--no-janus` (dev mode would otherwise start Janus and make a VideoRoom per session).
# STORM_ROUNDS=n repeats bare connects and joins into 200 rooms of 10 in turn and prints the median ratio.
# Usage: [STORM_ROUNDS=n] Benchmarks/storm.sh [path/to/admit]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product admit-storm >&2
if [ $# -ge 1 ]; then admit=$1; else swift build -c release --product admit >&2; admit="$(swift build -c release --show-bin-path)/admit"; fi
storm="$(swift build -c release --show-bin-path)/admit-storm"
data=$(mktemp -d ${STORM_TMP:+-p "$STORM_TMP"})
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
ulimit -n 65536 2>/dev/null || true
ADMIT_BENCH_ENDPOINTS=1 ADMIT_LOG_LEVEL=warning taskset -c 0 "$admit" serve --dev --no-janus --port 18483 --data-dir "$data" \
  --max-participants 5000 --max-lobby 5000 --rtc-rate 100000 --rtc-burst 100000 --token-endpoint-rate 100000000 > "$data/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf localhost:18483/health >/dev/null && break; sleep 0.2; done
token=$(curl -sf localhost:18483/get-token | sed 's/.*"token":"\([^"]*\)".*/\1/')
if [ -n "${STORM_PROFILE:-}" ]; then
  # Benchmarks/storm-profile.sh: the server under perf, each phase's times in $STORM_PROFILE/marks.
  perf record -k CLOCK_MONOTONIC -F 2999 -g -p "$pid" -o "$STORM_PROFILE/perf.data" 2>/dev/null &
  perfpid=$!
  sleep 0.3
  STORM_MARKS=1 taskset -c 1 "$storm" 18483 "$token" "$pid" 2> "$STORM_PROFILE/marks"
  kill -INT $perfpid
  wait $perfpid || true
else
  taskset -c 1 "$storm" 18483 "$token" "$pid"
fi
