#!/usr/bin/env bash
# Join storm with the Swift load generator (admit-storm): release server on core 0, generator
# on core 1, each one core. Prints bare connects, joins into 200 rooms of 10, a room of 1000
# filling (joins/s and events delivered per second) and memory per participant. Signalling only:
# `--no-janus` (dev mode would otherwise start Janus and make a VideoRoom per session).
# STORM_ROUNDS=n repeats bare connects and joins into 200 rooms of 10 in turn and prints the median ratio.
#
# Loopback: the receiving side of a TCP segment (its processing, the wake-up of the reader) is
# done by whoever sends it, in the kernel's softirq on the sender's core. Left so, every frame the
# server delivers costs the server's core the generator's receive work too, and the figures are not
# the server's alone. STORM_RPS=1 (root, /sys writable) steers loopback's receive processing to
# the generator's core (RPS: rps_cpus of lo = core 1), as a network does to the client's machine,
# and puts it back after; the generator's core then does the receiving for both sides, which
# slows the big room (its 500,500 events). The line "loopback receive processing" says which.
# docs/decisions.md, "The storm's yardstick".
# Usage: [STORM_ROUNDS=n] [STORM_RPS=1] Benchmarks/storm.sh [path/to/admit]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product admit-storm >&2
if [ $# -ge 1 ]; then admit=$1; else swift build -c release --product admit >&2; admit="$(swift build -c release --show-bin-path)/admit"; fi
storm="$(swift build -c release --show-bin-path)/admit-storm"
data=$(mktemp -d ${STORM_TMP:+-p "$STORM_TMP"})
rps=/sys/class/net/lo/queues/rx-0/rps_cpus
rps_before=""
if [ "${STORM_RPS:-0}" = 1 ] && [ -w "$rps" ] && rps_before=$(cat "$rps") && echo 2 > "$rps" 2>/dev/null; then
  echo "loopback receive processing: on the generator's core (RPS, lo rps_cpus=2)"
else
  rps_before=""
  if [ "${STORM_RPS:-0}" = 1 ]; then echo "storm.sh: STORM_RPS=1 needs $rps writable (root); measuring without it" >&2; fi
  echo "loopback receive processing: on the sender's core (each frame the server sends costs it the receiver's work too; STORM_RPS=1 moves it)"
fi
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"; if [ -n "$rps_before" ]; then echo "$rps_before" > "$rps"; fi' EXIT
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
