#!/usr/bin/env bash
# Keeps docs/openapi.yaml true: starts a dev server on a fresh data dir and runs
# schemathesis (PyPI) against it. Checks: no 5xx, status codes and response bodies match
# the document. The server API runs with an access token, the admin API with the admin
# credential. Usage: scripts/openapi-check.sh [path/to/admit]
set -euo pipefail
cd "$(dirname "$0")/.."
admit=${1:-$(swift build --show-bin-path)/admit}
port=18380
source scripts/dev-server.sh
admin=$(cat "$data/admin-token")
token=$(curl -sf "$base/get-token" | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
common=(--url "$base" --checks "$checks" --max-examples "${ADMIT_SCHEMATHESIS_EXAMPLES:-25}" --generation-deterministic --workers 1)
echo "== server API and example endpoints (access token)"
st run docs/openapi.yaml "${common[@]}" -H "Authorization: $token" --exclude-path-regex '^/admin/'
echo "== admin API (admin credential)"
st run docs/openapi.yaml "${common[@]}" -H "Authorization: Bearer $admin" --include-path-regex '^/admin/'
