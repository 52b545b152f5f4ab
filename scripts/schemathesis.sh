#!/usr/bin/env bash
# Runs schemathesis (PyPI) against the server's own OpenAPI document: starts `chipmix serve` on
# loopback with a fresh SQLite database and an admin token, seeds one portfolio so routes that
# name one have something to find, and lets schemathesis generate requests for every operation.
# The check that must hold: no 5xx. Usage: scripts/schemathesis.sh [MAX_EXAMPLES] (default 50)
# Needs `pip install schemathesis` and a built `chipmix` (CHIPMIX=path, default: cargo's).
set -euo pipefail
cd "$(dirname "$0")/.."
max="${1:-50}"
chipmix="${CHIPMIX:-${CARGO_TARGET_DIR:-target}/release/chipmix}"
[ -x "$chipmix" ] || { cargo build --release -p chipmix-cli; }
dir="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
db="sqlite://$dir/st.db?mode=rwc"
token="$("$chipmix" token create --name schemathesis --role admin --db "$db" 2>/dev/null)"
"$chipmix" serve --db "$db" --bind 127.0.0.1:0 >"$dir/out" 2>"$dir/err" &
server=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$dir/out" 2>/dev/null && break
  sleep 0.1
done
base="$(grep -o 'http://[0-9.:]*' "$dir/out" | head -1)"
[ -n "$base" ] || { cat "$dir/err"; echo "the server did not start"; exit 1; }
python3 - "$base" "$token" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
yaml = open("examples/startup.yaml").read()
req = urllib.request.Request(f"{base}/api/v1/portfolios", method="POST",
    data=json.dumps({"name": "startup", "yaml": yaml}).encode(),
    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY
st run "$base/api/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error \
  --max-examples "$max" \
  --request-timeout 120 \
  --report junit --report-dir "${CHIPMIX_ARTIFACTS_DIR:-$dir}/schemathesis"
