#!/usr/bin/env bash
# Join-storm benchmark: release server pinned to core 0, Python websockets client on core 1.
# Usage: Benchmarks/meetings.sh     (needs pip websockets)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product admit >&2
admit="$(swift build -c release --show-bin-path)/admit"
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
ulimit -n 65536 2>/dev/null || true
ADMIT_BENCH_ENDPOINTS=1 ADMIT_LOG_LEVEL=warning taskset -c 0 "$admit" serve --dev --port 18480 --data-dir "$data" \
  --max-participants 5000 --max-lobby 5000 --rtc-rate 100000 --rtc-burst 100000 --token-endpoint-rate 100000000 > "$data/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf localhost:18480/health >/dev/null && break; sleep 0.2; done
taskset -c 1 python3 Benchmarks/meetings.py http://127.0.0.1:18480 "$data" "$pid"
