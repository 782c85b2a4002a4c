#!/usr/bin/env bash
# Smoke run of every load scenario, a few seconds each, so the load tool cannot rot.
#
#   bash bench/smoke.sh                    # SQLite (a scratch file), debug build
#   bash bench/smoke.sh sqlite postgres    # also PostgreSQL + Redis (a scratch database)
#   BENCH_PROFILE=release bash bench/smoke.sh
#
# For each backend it starts its own server on 127.0.0.1:$SMOKE_PORT, runs browse, checkout,
# onsale, fanout, seatmap, seated-onsale and analytics (which also writes to the scratch
# database: it needs sqlite3 or psql) with --strict (any unexpected error code fails), and fails on oversell or a
# lost subscription delivery. Timing never decides pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE="${BENCH_PROFILE:-debug}"
PORT="${SMOKE_PORT:-18481}"
PG_ADMIN_URL="${SMOKE_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL_FOR_SMOKE="${SMOKE_REDIS_URL:-redis://127.0.0.1:6379}"
BACKENDS=("$@")
[ ${#BACKENDS[@]} -eq 0 ] && BACKENDS=(sqlite)

build_flags=()
[ "$PROFILE" = release ] && build_flags=(--release)
cargo build "${build_flags[@]}" -p evenntify -p evenntify-bench --bin evenntify --bin evenntify-bench
BIN="target/$PROFILE"

# The fan-out opens one socket per subscription on each side.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 4096 2>/dev/null || true
fi

WORK="$(mktemp -d)"
SERVER_PID=""
PG_DB=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "$PG_DB" ]; then
    psql "$PG_ADMIN_URL" -q -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

start_server() { # start_server <env assignments…>
  # Virtual users send far more mutations than a person: lift the per-user budget.
  env "$@" BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=warn MUTATIONS_PER_MINUTE=1000000 REGISTRATIONS_PER_IP_PER_MINUTE=1000000 \
    "$BIN/evenntify" serve >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "the server did not start; its log:" >&2
  cat "$WORK/server.log" >&2
  return 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

scenarios() { # scenarios <label> <database url>
  local b=("$BIN/evenntify-bench" --url "http://127.0.0.1:$PORT" --strict --label "smoke-$1")
  "${b[@]}" browse --clients 20 --duration 3 --min-events 10 --pages 2
  "${b[@]}" checkout --users 4 --duration 3 --ticket-types 20 --types-per-event 10
  "${b[@]}" onsale --buyers 300 --seats 50 --users 10 --concurrency 50
  "${b[@]}" fanout --subscriptions 50 --rate 5 --duration 3 --payers 2 --server-pid "$SERVER_PID" --drain 10
  "${b[@]}" seatmap --rows 4 --seats-per-row 50 --clients 2 --duration 2
  "${b[@]}" seated-onsale --rows 4 --seats-per-row 10 --buyers 60 --users 5 --concurrency 20
  "${b[@]}" analytics --database-url "$2" --tickets 2000 --api-purchases 20 --api-cancels 4 \
    --bulk-buyers 4 --api-buyers 2 --queries 3
}

for backend in "${BACKENDS[@]}"; do
  echo "==== bench smoke: $backend ===="
  case "$backend" in
    sqlite)
      DB_URL="sqlite://$WORK/smoke.db?mode=rwc"
      start_server DATABASE_URL="$DB_URL"
      ;;
    postgres)
      PG_DB="evenntify_bench_smoke_$$"
      psql "$PG_ADMIN_URL" -q -c "CREATE DATABASE $PG_DB" >/dev/null
      DB_URL="${PG_ADMIN_URL%/*}/$PG_DB"
      start_server DATABASE_URL="$DB_URL" REDIS_URL="$REDIS_URL_FOR_SMOKE" \
        JWT_SECRET="bench-smoke-secret-0123456789abcdef0123456789"
      ;;
    *)
      echo "unknown backend $backend (sqlite or postgres)" >&2
      exit 2
      ;;
  esac
  scenarios "$backend" "$DB_URL"
  stop_server
  if [ -n "$PG_DB" ]; then
    psql "$PG_ADMIN_URL" -q -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
    PG_DB=""
  fi
done
echo "==== bench smoke passed: ${BACKENDS[*]} ===="
