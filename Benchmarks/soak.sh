#!/usr/bin/env bash
# Soak: minutes of join/leave/lobby churn against a release server; prints the RSS slope and
# every error (exit 1 if any). Usage: [ADMIT_BIN=path/to/admit] Benchmarks/soak.sh [MINUTES]
# (default 10; needs pip websockets)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
if [ -n "${ADMIT_BIN:-}" ]; then
  admit=$ADMIT_BIN   # another build to compare with
else
  swift build -c release --product admit >&2
  admit="$(swift build -c release --show-bin-path)/admit"
fi
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
ulimit -n 65536 2>/dev/null || true
ADMIT_LOG_LEVEL=warning "$admit" serve --dev --port 18486 --data-dir "$data" --token-endpoint-rate 100000000 > "$data/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf localhost:18486/health >/dev/null && break; sleep 0.2; done
python3 Benchmarks/soak.py http://127.0.0.1:18486 "$data" "$pid" "$minutes"
