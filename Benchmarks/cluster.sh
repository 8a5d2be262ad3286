#!/usr/bin/env bash
# The relay's cost: two release `admit serve` processes on one PostgreSQL, event latency for a
# room on one node against the same room split over two, and join rates (cluster_bench.py).
# Usage: Benchmarks/cluster.sh POSTGRES_URL [rounds] [path/to/admit]   (pip websockets PyJWT)
set -euo pipefail
cd "$(dirname "$0")/.."
url=$1
rounds=${2:-300}
if [ $# -ge 3 ]; then admit=$3; else swift build -c release --product admit >&2; admit="$(swift build -c release --show-bin-path)/admit"; fi
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
export ADMIT_ADMIN_TOKEN="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ADMIT_MASTER_KEY="mTXp0Qh3gn3Q9uV0bYyJ9yq3S2v0m6Cq0Yx4S9c2XxY="
export ADMIT_LOG_LEVEL=warning
for node in a:18701 b:18702; do
  name=${node%%:*}; port=${node##*:}
  mkdir -p "$dir/$name"
  "$admit" serve --host 127.0.0.1 --port "$port" --database "$url" --data-dir "$dir/$name" --node-id "bench-$name" --no-janus \
    --rtc-rate 10000 --rtc-burst 10000 > "$dir/$name.log" 2>&1 &
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.1; done
done
python3 Benchmarks/cluster_bench.py http://127.0.0.1:18701 http://127.0.0.1:18702 "$rounds"
