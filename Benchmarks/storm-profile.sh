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
out=${2:-$(mktemp -d)}
mkdir -p "$out"
STORM_PROFILE=$out Benchmarks/storm.sh ${1:+"$1"}
# marks: one line per storm (big room, bare connects, 200 rooms of 10): "storm START END".
mapfile -t marks < <(awk '/^storm/ {print $2","$3}' "$out/marks")
for phase in "bare connects:${marks[1]}" "joins into 200 rooms of 10:${marks[2]}"; do
  name=${phase%%:*}; window=${phase#*:}
  echo; echo "== $name ($window)"
  perf report -i "$out/perf.data" --time "$window" --no-children -n --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
  perf report -i "$out/perf.data" --time "$window" --no-children -n --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 | cut -c1-150
done
echo; echo "record: $out/perf.data (perf report -i ... --time START,END)"
