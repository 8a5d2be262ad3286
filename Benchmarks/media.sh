#!/usr/bin/env bash
# Media figures (Benchmarks/media_bench.py) in a network namespace of its own: Admit's relay
# beside the same operations straight on Janus, and the largest room where every publisher
# is seen by every other. Needs root, janus and aiortc.
# Usage: Benchmarks/media.sh [rounds] [room sizes, e.g. 6,8] [path/to/admit]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
sizes=${2:-6}
if [ $# -ge 3 ]; then admit=$3; else swift build -c release --product admit >&2; admit="$(swift build -c release --show-bin-path)/admit"; fi
ns="admit-bench-$$"
data=$(mktemp -d)
source scripts/netns.sh
port=18481
ADMIT_LOG_LEVEL=warning ip netns exec "$ns" "$admit" serve --dev --port "$port" --data-dir "$data" \
  --rtc-rate 100000 --rtc-burst 100000 > "$data/serve.log" 2>&1 &
for _ in $(seq 150); do
  ip netns exec "$ns" curl -sf "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"up"' && break
  sleep 0.2
done
ip netns exec "$ns" python3 Benchmarks/media_bench.py "http://127.0.0.1:$port" "$data" "$rounds" "$sizes"
