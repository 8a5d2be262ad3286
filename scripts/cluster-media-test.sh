#!/usr/bin/env bash
# Media across two nodes (issue 14): two `admit serve --dev` nodes on one PostgreSQL, each with
# its own Janus, inside a network namespace of this script's own (with a PostgreSQL of its own
# there); a participant on each node publishes and subscribes to the other through the room's
# owner, so the room's media lives on the owner's Janus alone. Tests/cluster/media_test.py
# drives it. Needs root (ip netns), janus, aiortc and PostgreSQL's server binaries.
# Usage: scripts/cluster-media-test.sh [path/to/admit]   (ADMIT_REQUIRE_MEDIA=1: no skipping)
set -euo pipefail
cd "$(dirname "$0")/.."
admit=${1:-$(swift build --show-bin-path)/admit}
admit=$(realpath "$admit")

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
missing=""
[ "$(id -u)" = 0 ] || missing="root (for ip netns)"
command -v ip >/dev/null || missing="iproute2"
command -v janus >/dev/null || missing="janus (apt-get install janus)"
[ -n "$PGBIN" ] || missing="PostgreSQL (apt-get install postgresql)"
python3 -c "import aiortc, websockets, jwt" 2>/dev/null || missing="aiortc, websockets and PyJWT (pip install aiortc websockets PyJWT)"
if [ -n "$missing" ]; then
  if [ "${ADMIT_REQUIRE_MEDIA:-0}" = 1 ]; then echo "cluster media tests need $missing" >&2; exit 1; fi
  echo "cluster media tests skipped: no $missing"; exit 0
fi

ns="admit-cluster-$$"
data=$(mktemp -d)
chmod 755 "$data"
source scripts/netns.sh

# PostgreSQL inside the namespace (its loopback is not the machine's).
mkdir -p "$data/pg"
chown postgres:postgres "$data/pg"
run su postgres -s /bin/bash -c "$PGBIN/initdb -D $data/pg/data -U postgres --auth=trust -E UTF8 > $data/pg/initdb.log"
run su postgres -s /bin/bash -c "$PGBIN/pg_ctl -D $data/pg/data -o '-p 5433 -k $data/pg -c listen_addresses=127.0.0.1 -c fsync=off' -l $data/pg/server.log -w start" > /dev/null
run psql -q -h 127.0.0.1 -p 5433 -U postgres -c "CREATE ROLE admit LOGIN PASSWORD 'admit'" -c "CREATE DATABASE admit OWNER admit"
url="postgres://admit:admit@127.0.0.1:5433/admit?sslmode=disable"

export ADMIT_ADMIN_TOKEN="cluster-media-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ADMIT_MASTER_KEY="mTXp0Qh3gn3Q9uV0bYyJ9yq3S2v0m6Cq0Yx4S9c2XxY="
for node in a:18801 b:18802; do
  name=${node%%:*}; port=${node##*:}
  mkdir -p "$data/$name"
  ADMIT_LOG_LEVEL=info ip netns exec "$ns" "$admit" serve --dev --port "$port" --database "$url" --data-dir "$data/$name" --node-id "$name" \
    > "$data/$name.log" 2>&1 &
  state=""
  for _ in $(seq 150); do
    state=$(run curl -sf "http://127.0.0.1:$port/health" 2>/dev/null | python3 -c 'import sys, json; print(json.load(sys.stdin)["sfu"]["state"])' 2>/dev/null || true)
    [ "$state" = up ] && break
    sleep 0.2
  done
  if [ "$state" != up ]; then echo "node $name's SFU did not come up (state: ${state:-no answer})"; tail -20 "$data/$name.log"; exit 1; fi
done
status=0
run python3 Tests/cluster/media_test.py http://127.0.0.1:18801 http://127.0.0.1:18802 "$data/a" "$data/b" || status=$?
if [ $status != 0 ]; then for name in a b; do echo "--- $name.log"; tail -30 "$data/$name.log"; done; fi
exit $status
