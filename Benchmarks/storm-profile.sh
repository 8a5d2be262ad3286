#!/usr/bin/env bash
# Profiles the join storm phase by phase: runs Benchmarks/storm.sh's server and generator under
# `perf record` (frame pointers, monotonic clock), cuts the record at each phase's start and end
# (admit-storm prints them with STORM_MARKS=1) and prints, for the bare connects and for the joins
# into 200 rooms of 10, the samples per shared object and the top symbols. Samples are at a fixed
# rate, so two phases of 2,000 connections each compare directly. The rates it prints are lower
# than storm.sh's (perf takes its share); read the samples, not the rates.
# Usage: [STORM_ROUNDS=n] Benchmarks/storm-profile.sh [path/to/admit] [output directory]
# Needs perf (apt-get install linux-perf); run as root or with perf_event_paranoid <= 1.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${2:-$(mktemp -d)}
mkdir -p "$out"
STORM_PROFILE=$out Benchmarks/storm.sh ${1:+"$1"}
# marks: one line per storm (big room, then bare connects and 200 rooms of 10 per round):
# "storm START END". With STORM_ROUNDS=n (n > 1) the first round is left out (the heap still
# grows in it) and the other rounds' windows are taken together.
mapfile -t marks < <(awk '/^storm/ {print $2","$3}' "$out/marks")
bare=""; joins=""; first=1
if [ ${#marks[@]} -gt 3 ]; then first=3; fi
for ((i = first; i + 1 < ${#marks[@]}; i += 2)); do bare="$bare ${marks[$i]}"; joins="$joins ${marks[$((i + 1))]}"; done
for phase in "bare connects:${bare# }" "joins into 200 rooms of 10:${joins# }"; do
  name=${phase%%:*}; window=${phase#*:}
  echo; echo "== $name ($window)"
  perf report -i "$out/perf.data" --time "$window" --no-children -n --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8 || true  # head closes the pipe early
  perf report -i "$out/perf.data" --time "$window" --no-children -n --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 | cut -c1-150 || true
done
echo; echo "record: $out/perf.data (perf report -i ... --time START,END)"
