#!/usr/bin/env bash
# The dashboard and the meeting page in a real browser (CONTRACT.md section 8): headless
# Chromium driven by Selenium. First the dashboard against `admit serve --dev --no-janus` on
# loopback (Tests/browser/dashboard_test.py); then, as root with Janus installed, two browsers
# with fake cameras meeting on /meet through dev mode's Janus, inside a network namespace of
# the script's own (Tests/browser/meet_test.py).
# Usage: scripts/browser-test.sh [path/to/admit]   (ADMIT_SCREENSHOTS=DIR keeps screenshots)
# ADMIT_REQUIRE_BROWSER=1 (CI) turns a missing prerequisite into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
admit=${1:-$(swift build --show-bin-path)/admit}
admit=$(realpath "$admit")
shots=${ADMIT_SCREENSHOTS:-}

missing=""
command -v chromium >/dev/null || missing="$missing chromium"
command -v chromedriver >/dev/null || missing="$missing chromium-driver"
python3 -c "import selenium, jwt, websockets" 2>/dev/null || missing="$missing selenium/PyJWT/websockets"
if [ -n "$missing" ]; then
  if [ "${ADMIT_REQUIRE_BROWSER:-0}" = 1 ]; then echo "browser tests need$missing" >&2; exit 1; fi
  echo "browser tests skipped: no$missing"; exit 0
fi

data=$(mktemp -d)
port=18480
"$admit" serve --dev --no-janus --port "$port" --data-dir "$data" > "$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
status=0
python3 Tests/browser/dashboard_test.py "http://127.0.0.1:$port" "$(cat "$data/admin-token")" $shots || status=$?
kill $pid 2>/dev/null || true
if [ $status != 0 ]; then echo "--- serve.log"; tail -30 "$data/serve.log"; exit $status; fi

# Two browsers meeting with media: needs root (ip netns) and Janus.
if [ "$(id -u)" != 0 ] || ! command -v janus >/dev/null; then
  if [ "${ADMIT_REQUIRE_MEDIA:-0}" = 1 ]; then echo "the meeting page's media test needs root and janus" >&2; exit 1; fi
  echo "meeting page media test skipped (needs root and janus)"; exit 0
fi
trap - EXIT
rm -rf "$data"
ns="admit-browser-$$"
data=$(mktemp -d)
source scripts/netns.sh
ip netns exec "$ns" "$admit" serve --dev --port "$port" --data-dir "$data" > "$data/serve.log" 2>&1 &
for _ in $(seq 150); do
  state=$(run curl -sf "http://127.0.0.1:$port/health" 2>/dev/null | python3 -c 'import sys, json; print(json.load(sys.stdin)["sfu"]["state"])' 2>/dev/null || true)
  [ "$state" = up ] && break
  sleep 0.2
done
[ "$state" = up ] || { echo "the SFU did not come up"; tail -20 "$data/serve.log"; exit 1; }
run env HOME="$data" python3 Tests/browser/meet_test.py "http://127.0.0.1:$port" $shots || status=$?
if [ $status != 0 ]; then echo "--- serve.log"; tail -40 "$data/serve.log"; fi
exit $status
