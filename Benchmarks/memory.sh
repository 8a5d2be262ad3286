#!/usr/bin/env bash
# Server memory per meeting participant as an RSS slope over three rooms of 1000
# (Benchmarks/meetings.py --slope): the figure to compare two builds with, since one reading
# includes one-time costs. Usage: Benchmarks/memory.sh [path/to/admit]   (needs pip websockets)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ge 1 ]; then admit=$1; else swift build -c release --product admit >&2; admit="$(swift build -c release --show-bin-path)/admit"; fi
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
ulimit -n 65536 2>/dev/null || true
ADMIT_LOG_LEVEL=warning taskset -c 0 "$admit" serve --dev --port 18482 --data-dir "$data" --max-participants 5000 --max-lobby 5000 \
  --token-endpoint-rate 100000000 > "$data/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf localhost:18482/health >/dev/null && break; sleep 0.2; done
taskset -c 1 python3 Benchmarks/meetings.py http://127.0.0.1:18482 "$data" "$pid" --slope
