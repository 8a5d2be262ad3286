#!/usr/bin/env bash
# HTTP throughput on loopback with wrk, in one run:
#   - /get-token on Admit (dev mode, SQLite) and on a Go net/http + golang-jwt stand-in
#     for VideoSDK's official Go token server (Benchmarks/peers/go-token-server);
#   - GET /v2/rooms/validate/:id on Admit (token check + SQLite read).
# Each server is pinned to core 0 and wrk to core 1 (2-core machine).
# Needs: wrk, golang-go, golang-github-golang-jwt-jwt-dev (Debian).
# Usage: Benchmarks/server.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
out=Benchmarks/out
mkdir -p "$out"
echo "building (release)..." >&2
swift build -c release --product admit >&2
admit="$(swift build -c release --show-bin-path)/admit"
(cd Benchmarks/peers/go-token-server && GO111MODULE=off GOPATH=/usr/share/gocode go build -o "../../out/go-token-server" .)

data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
ADMIT_LOG_LEVEL=warning taskset -c 0 "$admit" serve --dev --port 18080 --data-dir "$data" --token-endpoint-rate 100000000 > "$data/serve.log" 2>&1 &
for _ in $(seq 50); do curl -sf localhost:18080/health >/dev/null && break; sleep 0.2; done
apikey=$(sed -n 's/^Dev API key: //p' "$data/serve.log")
secret=$(sed -n 's/^Dev API secret: //p' "$data/serve.log")
taskset -c 0 "$out/go-token-server" "$apikey" "$secret" 127.0.0.1:18081 &
for _ in $(seq 50); do curl -sf localhost:18081/get-token >/dev/null && break; sleep 0.2; done

token=$(curl -sf localhost:18080/get-token | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
room=$(curl -sf -X POST localhost:18080/v2/rooms -H "Authorization: $token" | python3 -c 'import sys, json; print(json.load(sys.stdin)["roomId"])')

run() { # name url [header]
  local name=$1 url=$2; shift 2
  local file="$out/wrk-$(echo "$name" | tr ' /' '_-').txt"
  taskset -c 1 wrk -t1 -c32 -d"${seconds}s" --latency "$@" "$url" > "$file"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ { print $2 }' "$file")
  p50=$(awk '$1 == "50%" { print $2 }' "$file")
  p99=$(awk '$1 == "99%" { print $2 }' "$file")
  printf "%-28s %12s req/s   p50 %9s   p99 %9s\n" "$name" "$rps" "$p50" "$p99"
}
# Admit's /get-token runs through its rate limiter (set high enough not to refuse), as deployed.
# Responses other than 2xx are reported below.
run "go /get-token" "http://127.0.0.1:18081/get-token"
run "admit /get-token" "http://127.0.0.1:18080/get-token"
run "admit /v2/rooms/validate" "http://127.0.0.1:18080/v2/rooms/validate/$room" -H "Authorization: $token"
grep -H "Non-2xx" "$out"/wrk-*.txt || echo "all responses 2xx"
