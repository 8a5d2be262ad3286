# Sourced by scripts that need a live dev server: starts `admit serve --dev` on a fresh
# data dir, waits for /health, and stops it on exit.
# In: $admit (binary), $port. Out: $data (the data dir, with admin-token), $base (URL).
data=$(mktemp -d)
base="http://127.0.0.1:$port"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
ADMIT_LOG_LEVEL=warning "$admit" serve --dev --port "$port" --data-dir "$data" > "$data/serve.log" 2>&1 &
for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.2; done
