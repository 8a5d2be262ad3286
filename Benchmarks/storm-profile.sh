#!/usr/bin/env bash
# Profiles the join storm phase by phase: runs Benchmarks/storm.sh's server and generator under
# `perf record` (frame pointers, monotonic clock), cuts the record at each phase's start and end
# (admit-storm prints them with STORM_MARKS=1) and prints, for the bare connects and for the joins
# into 200 rooms of 10, the samples per shared object and the top symbols. Samples are at a fixed
# rate, so two phases of 2,000 connections each compare directly. The rates it prints are lower
# than storm.sh's (perf takes its share); read the samples, not the rates.
# Usage: Benchmarks/storm-profile.sh [path/to/admit] [output directory]
# Needs perf (apt-get install linux-perf); run as root or with perf_event_paranoid <= 1.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product admit-storm >&2
if [ $# -ge 1 ]; then admit=$1; else swift build -c release --product admit >&2; admit="$(swift build -c release --show-bin-path)/admit"; fi
storm="$(swift build -c release --show-bin-path)/admit-storm"
out=${2:-$(mktemp -d)}
mkdir -p "$out"
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
ulimit -n 65536 2>/dev/null || true
ADMIT_BENCH_ENDPOINTS=1 ADMIT_LOG_LEVEL=warning taskset -c 0 "$admit" serve --dev --no-janus --port 18483 --data-dir "$data" \
  --max-participants 5000 --max-lobby 5000 --rtc-rate 100000 --rtc-burst 100000 --token-endpoint-rate 100000000 > "$data/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf localhost:18483/health >/dev/null && break; sleep 0.2; done
token=$(curl -sf localhost:18483/get-token | sed 's/.*"token":"\([^"]*\)".*/\1/')
perf record -k CLOCK_MONOTONIC -F 2999 -g -p "$pid" -o "$out/perf.data" 2>/dev/null &
perfpid=$!
sleep 0.3
STORM_MARKS=1 taskset -c 1 "$storm" 18483 "$token" "$pid" 2> "$out/marks"
kill -INT $perfpid; wait $perfpid || true
# marks: one line per storm (big room, bare connects, 200 rooms of 10): "storm START END".
mapfile -t marks < <(awk '/^storm/ {print $2","$3}' "$out/marks")
for phase in "bare connects:${marks[1]}" "joins into 200 rooms of 10:${marks[2]}"; do
  name=${phase%%:*}; window=${phase#*:}
  echo; echo "== $name ($window)"
  perf report -i "$out/perf.data" --time "$window" --no-children -n --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
  perf report -i "$out/perf.data" --time "$window" --no-children -n --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 | cut -c1-150
done
echo; echo "record: $out/perf.data (perf report -i ... --time START,END)"
