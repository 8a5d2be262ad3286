#!/usr/bin/env bash
# Two admit builds side by side, interleaved: server CPU per request (from /proc) for
# /get-token and validate, which varies far less on this VM than requests per second.
# Usage: Benchmarks/http-compare.sh OLD_ADMIT NEW_ADMIT [rounds]   (needs wrk)
set -euo pipefail
ulimit -n 65536 2>/dev/null || true
A=$1; B=$2; rounds=${3:-4}
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
declare -A pid token room
for port in 18090 18091; do
  path=$([ $port = 18090 ] && echo $A || echo $B)
  d=$(mktemp -d)
  ADMIT_LOG_LEVEL=warning taskset -c 0 "$path" serve --dev --port $port --data-dir "$d" --token-endpoint-rate 100000000 > "$d/log" 2>&1 &
  pid[$port]=$!
done
for port in 18090 18091; do for _ in $(seq 50); do curl -sf localhost:$port/health >/dev/null && break; sleep 0.2; done; done
for port in 18090 18091; do
  token[$port]=$(curl -sf localhost:$port/get-token | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
  room[$port]=$(curl -sf -X POST localhost:$port/v2/rooms -H "Authorization: ${token[$port]}" | python3 -c 'import sys, json; print(json.load(sys.stdin)["roomId"])')
done
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
for r in $(seq $rounds); do
  for port in 18090 18091; do
    for what in token validate; do
      c0=$(cpu ${pid[$port]})
      if [ $what = token ]; then out=$(taskset -c 1 wrk -t1 -c32 -d4s http://127.0.0.1:$port/get-token)
      else out=$(taskset -c 1 wrk -t1 -c32 -d4s -H "Authorization: ${token[$port]}" http://127.0.0.1:$port/v2/rooms/validate/${room[$port]}); fi
      c1=$(cpu ${pid[$port]})
      n=$(echo "$out" | awk '/requests in/ {print $1}')
      echo "$([ $port = 18090 ] && echo old || echo new) $what $(python3 -c "print(round(($c1-$c0)*1e6/100/$n, 2))") us/request ($n requests)"
    done
  done
done
kill $(jobs -p) 2>/dev/null || true
