#!/usr/bin/env bash
# Property-based API testing with schemathesis (PyPI) against each server's
# OpenAPI document, with a valid token: no 5xx and no answer that violates
# the document. Each server runs in demo mode on loopback, in a throw-away
# directory (its own SQLite database), and is stopped when this script ends,
# also on failure. Bounded: SCHEMATHESIS_MAX_TIME seconds per server
# (default 60) and SCHEMATHESIS_MAX_EXAMPLES cases per operation (default 25).
#
#   scripts/schemathesis.sh [hospital company dev owner]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

max_time="${SCHEMATHESIS_MAX_TIME:-60}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(hospital company dev owner)

command -v python3 >/dev/null || { echo "python3 is required for schemathesis"; exit 1; }
if ! command -v schemathesis >/dev/null; then
  # A distribution's Python may be marked externally managed (PEP 668).
  python3 -m pip install --quiet 'schemathesis==4.32.*' ||
    python3 -m pip install --quiet --break-system-packages 'schemathesis==4.32.*'
fi

cargo build --quiet --bins -p hospital -p company -p dev -p owner
target_dir="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# service → prefix, env prefix and the demo account to test as (the
# server's admin: the role that reaches the most routes).
declare -A prefix=([hospital]=tenant [company]=company [dev]=dev [owner]=owner)
declare -A account=([hospital]="hadmin:hadmin123" [company]="admin:admin123" [dev]="devadmin:devadmin123" [owner]="owner:owner123")

failed=()
for service in "${services[@]}"; do
  env_prefix="${service^^}"
  dir="$work/$service"
  mkdir -p "$dir"
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  api="$base/api/v1/${prefix[$service]}"
  (
    cd "$dir"
    export "${env_prefix}__SERVER__PORT=$port" "${env_prefix}__SERVER__HOST=127.0.0.1" \
      "${env_prefix}__PLANE__ENABLED=false" "${env_prefix}__LOG__LEVEL=warn" \
      "${env_prefix}__AUTH__BCRYPT_COST=4"
    exec "$target_dir/debug/$service-server" --demo
  ) >"$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$dir/server.log"; exit 1; }
    sleep 0.2
  done

  user="${account[$service]%%:*}"
  password="${account[$service]#*:}"
  token="$(curl -fsS -X POST "$api/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$user\",\"password\":\"$password\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["access_token"])')"

  echo "== schemathesis: $service-server ($api/openapi.json, ${max_time}s, ${max_examples} cases per operation)"
  # Logout and password change would end the test's own session; every
  # other route is exercised.
  # Run from the throw-away directory: schemathesis keeps a cache in the
  # working directory.
  if ! (cd "$dir" && schemathesis run "$api/openapi.json" --url "$base" \
      --checks all --exclude-checks positive_data_acceptance \
      --max-time "$max_time" --max-examples "$max_examples" --workers 1 \
      --seed 1 --no-color --suppress-health-check all \
      --exclude-path-regex '/auth/(logout|password)$' \
      -H "Authorization: Bearer $token"); then
    failed+=("$service")
    echo "-- $service-server log (tail):"
    tail -n 40 "$dir/server.log"
  fi
  stop_server
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "schemathesis found problems on: ${failed[*]}"
  exit 1
fi
echo "schemathesis: no 5xx and no schema violation on: ${services[*]}"
