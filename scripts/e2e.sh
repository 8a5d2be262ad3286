#!/usr/bin/env bash
# The meeting protocol through a plain WebSocket client (Tests/e2e/rtc_plain_client.py)
# against a live dev server. Usage: scripts/e2e.sh [path/to/admit]   (needs pip websockets)
set -euo pipefail
cd "$(dirname "$0")/.."
admit=${1:-$(swift build --show-bin-path)/admit}
data=$(mktemp -d)
port=18390
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
ADMIT_LOG_LEVEL=warning "$admit" serve --dev --port $port --data-dir "$data" > "$data/serve.log" 2>&1 &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
python3 Tests/e2e/rtc_plain_client.py "http://127.0.0.1:$port" "$data"
