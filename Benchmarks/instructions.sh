#!/usr/bin/env bash
# Instructions per verify and per sign, counted by callgrind: repeatable whatever else
# the machine is doing. Two run lengths are subtracted to remove start-up.
# Usage: Benchmarks/instructions.sh [path/to/admit-bench]
set -euo pipefail
cd "$(dirname "$0")/.."
built=${1:-$(swift build -c release --show-bin-path)/admit-bench}
# valgrind cannot read the debug info Swift writes; count a stripped copy.
bench=$(mktemp)
strip --strip-debug -o "$bench" "$built"
trap 'rm -f "$bench"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" --count "$1" "$2" 2>&1 |
    awk '/Collected/ { print $NF }'
}
for op in verify sign; do
  small=$(count 2000 $op); large=$(count 12000 $op)
  echo "admit instructions/$op $(( (large - small) / 10000 ))"
done
