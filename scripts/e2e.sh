#!/usr/bin/env bash
# The meeting protocol through a plain WebSocket client (Tests/e2e/rtc_plain_client.py)
# against a live dev server. Usage: scripts/e2e.sh [path/to/admit]   (needs pip websockets)
set -euo pipefail
cd "$(dirname "$0")/.."
admit=${1:-$(swift build --show-bin-path)/admit}
port=18390
source scripts/dev-server.sh
python3 Tests/e2e/rtc_plain_client.py "$base" "$data"
