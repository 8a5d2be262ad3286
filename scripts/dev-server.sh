# Sourced by scripts that need a live dev server: starts `admit serve --dev --no-janus` (media
# has tests of its own) on a fresh data dir, waits for /health, and stops it on exit: the
# server first, waited for, then its data dir (retried while anything still writes there).
# In: $admit (binary), $port. Out: $data (the data dir, with admin-token), $base (URL).
data=$(mktemp -d)
base="http://127.0.0.1:$port"
stop_dev_server() {
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
  for pid in $(jobs -p); do wait "$pid" 2>/dev/null || true; done
  for _ in 1 2 3 4 5; do rm -rf "$data" 2>/dev/null && return 0; sleep 0.5; done
  rm -rf "$data" || true
}
trap stop_dev_server EXIT
ADMIT_LOG_LEVEL=warning "$admit" serve --dev --no-janus --port "$port" --data-dir "$data" > "$data/serve.log" 2>&1 &
for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.2; done
