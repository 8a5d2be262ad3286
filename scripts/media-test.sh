#!/usr/bin/env bash
# Media end to end (CONTRACT.md section 7): Admit in dev mode starts its own Janus, and aiortc
# peers publish and subscribe through Admit's /rtc signalling, all inside a network namespace
# of this script's own (Janus gathers no ICE candidates on loopback, and test traffic never
# goes to the machine's external address). Needs root (ip netns), janus and aiortc.
# Usage: scripts/media-test.sh [path/to/admit]   (ADMIT_MEDIA_SWIFT=0 skips the AdmitClient scenario,
# which needs the tests built: `swift build --build-tests`)
# ADMIT_REQUIRE_MEDIA=1 (CI) turns a missing prerequisite into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
admit=${1:-$(swift build --show-bin-path)/admit}
admit=$(realpath "$admit")

missing=""
[ "$(id -u)" = 0 ] || missing="root (for ip netns)"
command -v ip >/dev/null || missing="iproute2"
command -v janus >/dev/null || missing="janus (apt-get install janus)"
python3 -c "import aiortc, websockets" 2>/dev/null || missing="aiortc and websockets (pip install aiortc websockets)"
if [ -n "$missing" ]; then
  if [ "${ADMIT_REQUIRE_MEDIA:-0}" = 1 ]; then echo "media tests need $missing" >&2; exit 1; fi
  echo "media tests skipped: no $missing"; exit 0
fi

ns="admit-media-$$"
data=$(mktemp -d)
source scripts/netns.sh

port=18470
base="http://127.0.0.1:$port"
ADMIT_LOG_LEVEL=info ip netns exec "$ns" "$admit" serve --dev --port "$port" --data-dir "$data" > "$data/serve.log" 2>&1 &
admit_pid=$!  # ip netns exec execs Admit: the same process (not through `run`, a shell function would fork)
for _ in $(seq 150); do
  state=$(run curl -sf "$base/health" 2>/dev/null | python3 -c 'import sys, json; print(json.load(sys.stdin)["sfu"]["state"])' 2>/dev/null || true)
  [ "$state" = up ] && break
  sleep 0.2
done
if [ "$state" != up ]; then
  echo "the SFU did not come up (state: ${state:-no answer})"; tail -20 "$data/serve.log"; tail -20 "$data/janus/janus.log" 2>/dev/null || true
  exit 1
fi
status=0
run python3 Tests/media/media_test.py "$base" "$data" || status=$?

# A Janus that Admit started dies with Admit, kill -9 included.
janus_pid=$(cat "$data/janus/janus.pid")
kill -9 "$admit_pid"
gone=no
for _ in $(seq 30); do kill -0 "$janus_pid" 2>/dev/null || { gone=yes; break; }; sleep 0.1; done
if [ $gone = yes ]; then echo "ok   Janus dies with Admit when Admit is killed with SIGKILL"; else
  echo "FAIL Janus (pid $janus_pid) outlived Admit's kill -9"; ps -ef | grep -E "janus|admit" | grep -v grep; status=1; fi
# The same scenario through AdmitClient (Tests/AdmitServerTests/MediaPeerTests.swift): the
# signalling in Swift, aiortc (Tests/media/peer.py) as the WebRTC stack, its own server and Janus.
if [ "${ADMIT_MEDIA_SWIFT:-1}" = 1 ]; then
  if run env ADMIT_MEDIA_PEER="$PWD/Tests/media/peer.py" swift test --skip-build --filter MediaPeerTests > "$data/peer.log" 2>&1 \
      && grep -q "Test run with 1 test.* passed" "$data/peer.log"; then
    echo "ok   through AdmitClient: frames decoded, the cap in the answer, disableWebcam stops them, removal ends the subscription"
  else
    echo "FAIL the AdmitClient media scenario (MediaPeerTests)"; grep -E "✘|recorded|error" "$data/peer.log" | head -20; status=1
  fi
fi
if [ $status != 0 ]; then echo "--- serve.log"; tail -40 "$data/serve.log"; fi
exit $status
