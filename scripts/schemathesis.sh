#!/usr/bin/env bash
# Fuzzes the running API against its own OpenAPI document (schemathesis, PyPI):
# no 5xx, no response that violates the schema, on generated data, with a token.
#   scripts/schemathesis.sh [path/to/ctt]     (default target/debug/ctt)
set -euo pipefail
cd "$(dirname "$0")/.."
ctt=${1:-target/debug/ctt}
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ctt" gen "$work/logs" --preset small --seed 7 >/dev/null
"$ctt" --db "$work/ctt.db" ingest "$work/logs" --no-progress >/dev/null
token=$("$ctt" --db "$work/ctt.db" token create --role admin --name schemathesis 2>/dev/null)
"$ctt" --db "$work/ctt.db" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.1
done

schemathesis run "http://127.0.0.1:$port/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples 60 --seed 1 --no-color
