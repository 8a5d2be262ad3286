#!/usr/bin/env bash
# Two `admit serve` processes on one PostgreSQL (issue 14): a room owned by node A with
# participants on both nodes; A is killed with SIGKILL; every participant joins again through
# node B within 5 s, the meeting goes on with one live session, and the dead node's session is
# ended with its time logs closed; a forged notification is ignored; A restarted under the same
# id at once does not leave its relayed participant in B's meeting. Tests/cluster/kill_test.py
# drives it (it starts A again itself).
# Usage: scripts/cluster-test.sh [path/to/admit]   (needs a PostgreSQL URL in
# ADMIT_TEST_POSTGRES_NODES_URL, and pip websockets + PyJWT; .ci/run provides both)
set -euo pipefail
cd "$(dirname "$0")/.."
url=${ADMIT_TEST_POSTGRES_NODES_URL:-}
if [ -z "$url" ]; then
  [ "${ADMIT_REQUIRE_POSTGRES:-0}" = 1 ] && { echo "cluster-test: ADMIT_TEST_POSTGRES_NODES_URL is required" >&2; exit 1; }
  echo "cluster-test: skipped (no ADMIT_TEST_POSTGRES_NODES_URL)"
  exit 0
fi
admit=${1:-$(swift build --show-bin-path)/admit}
dir=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
export ADMIT_ADMIN_TOKEN="cluster-test-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Both nodes open each other's sealed secrets: one master key.
export ADMIT_MASTER_KEY="mTXp0Qh3gn3Q9uV0bYyJ9yq3S2v0m6Cq0Yx4S9c2XxY="
export ADMIT_LOG_LEVEL=warning
start() { # name port
  mkdir -p "$dir/$1"; "$admit" serve --host 127.0.0.1 --port "$2" --database "$url" --data-dir "$dir/$1" --node-id "$1" --no-janus > "$dir/$1.log" 2>&1 &
  echo $! > "$dir/$1.pid"
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$2/health" > /dev/null && return 0; sleep 0.1; done
  echo "cluster-test: node $1 did not start" >&2; cat "$dir/$1.log" >&2; exit 1
}
start a 18601
start b 18602
ADMIT_BIN="$admit" CLUSTER_DIR="$dir" ADMIT_TEST_POSTGRES_NODES_URL="$url" python3 Tests/cluster/kill_test.py http://127.0.0.1:18601 http://127.0.0.1:18602 "$(cat "$dir/a.pid")" || { tail -n 30 "$dir"/*.log >&2; exit 1; }
