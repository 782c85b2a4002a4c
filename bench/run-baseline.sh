#!/usr/bin/env bash
# The database's own limit for the checkout path, measured with pgbench on the same PostgreSQL.
#
#   bash bench/run-baseline.sh [--clients 20] [--duration 30] [--api-url http://127.0.0.1:8080]
#
# 1. Creates a scratch database (default evenntify_pgbench, dropped and re-created), gives it the
#    server's own tables with `evenntify migrate`, and fills it with bench/pgbench/prepare.sql
#    (one buyer per client, 1,000 ticket types, one hot ticket type).
# 2. With --api-url: first runs `evenntify-bench checkout --users <clients> --duration <duration>`
#    against that server (which must be running on the same PostgreSQL), so both numbers come
#    from one run.
# 3. Runs pgbench for the same duration and client count with bench/pgbench/checkout.sql
#    (the server's 24 statements, checkouts/s), bench/pgbench/minimal.sql (the least SQL doing the
#    same durable work: the physical limit, checkouts/s) and bench/pgbench/hotrow.sql (reserves/s
#    on one ticket type).
# Prints a summary (API ÷ pgbench checkout, API ÷ minimal) and one JSON line; pgbench's full
# output (with per-statement latencies) is kept in $OUT_DIR (default target/bench-baseline).
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=20
DURATION=30
API_URL=""
DB="evenntify_pgbench"
ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
EVENNTIFY_BIN="${EVENNTIFY_BIN:-target/release/evenntify}"
BENCH_BIN="${BENCH_BIN:-target/release/evenntify-bench}"
OUT_DIR="${OUT_DIR:-target/bench-baseline}"

while [ $# -gt 0 ]; do
  case "$1" in
    --clients) CLIENTS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --api-url) API_URL="$2"; shift 2 ;;
    --db) DB="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

case "$ADMIN_URL" in
  *://*@127.0.0.1*|*://127.0.0.1*|*://*@localhost*|*://localhost*) ;;
  *) echo "PG_ADMIN_URL must point at this machine (127.0.0.1)" >&2; exit 2 ;;
esac

max_conn="$(psql "$ADMIN_URL" -Atc 'SHOW max_connections')"
if [ "$CLIENTS" -gt $((max_conn - 10)) ]; then
  echo "--clients $CLIENTS is too close to PostgreSQL's max_connections ($max_conn)" >&2
  exit 2
fi

if [ ! -x "$EVENNTIFY_BIN" ] || { [ -n "$API_URL" ] && [ ! -x "$BENCH_BIN" ]; }; then
  cargo build --release -p evenntify -p evenntify-bench --bin evenntify --bin evenntify-bench
fi
mkdir -p "$OUT_DIR"
DB_URL="${ADMIN_URL%/*}/$DB"

echo "== preparing $DB ($CLIENTS buyers, 1,000 ticket types + 1 hot) =="
psql "$ADMIN_URL" -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
DATABASE_URL="$DB_URL" JWT_SECRET="pgbench-baseline-secret-0123456789abcdef" \
  "$EVENNTIFY_BIN" migrate >"$OUT_DIR/migrate.log" 2>&1
psql "$DB_URL" -q -v clients="$CLIENTS" -f bench/pgbench/prepare.sql

api_rate=null
if [ -n "$API_URL" ]; then
  echo "== API checkout: $CLIENTS users, ${DURATION}s against $API_URL =="
  "$BENCH_BIN" --url "$API_URL" --label api-for-baseline checkout --users "$CLIENTS" --duration "$DURATION" \
    | tee "$OUT_DIR/api-checkout.txt"
  api_rate="$(grep '^{' "$OUT_DIR/api-checkout.txt" | tail -n1 | sed -E 's/.*"checkouts_per_s":([0-9.]+).*/\1/')"
fi

threads=$(( CLIENTS < 2 ? CLIENTS : 2 ))
run_pgbench() { # run_pgbench <script> <output>
  pgbench -n -M prepared -c "$CLIENTS" -j "$threads" -T "$DURATION" -r -f "$1" "$DB_URL" >"$2" 2>&1 || {
    cat "$2" >&2
    return 1
  }
  sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$2" | head -n1
}

echo "== pgbench checkout.sql: $CLIENTS clients, ${DURATION}s =="
checkout_tps="$(run_pgbench bench/pgbench/checkout.sql "$OUT_DIR/pgbench-checkout.txt")"
grep -E '^(number of transactions actually processed|number of failed|latency average|tps)' "$OUT_DIR/pgbench-checkout.txt" || true
echo "== pgbench minimal.sql: $CLIENTS clients, ${DURATION}s =="
minimal_tps="$(run_pgbench bench/pgbench/minimal.sql "$OUT_DIR/pgbench-minimal.txt")"
grep -E '^(number of transactions actually processed|number of failed|latency average|tps)' "$OUT_DIR/pgbench-minimal.txt" || true
echo "== pgbench hotrow.sql: $CLIENTS clients, ${DURATION}s =="
hotrow_tps="$(run_pgbench bench/pgbench/hotrow.sql "$OUT_DIR/pgbench-hotrow.txt")"
grep -E '^(number of transactions actually processed|number of failed|latency average|tps)' "$OUT_DIR/pgbench-hotrow.txt" || true

ratio=null
minimal_ratio=null
if [ "$api_rate" != null ]; then
  ratio="$(awk -v a="$api_rate" -v b="$checkout_tps" 'BEGIN { printf "%.3f", a / b }')"
  minimal_ratio="$(awk -v a="$api_rate" -v b="$minimal_tps" 'BEGIN { printf "%.3f", a / b }')"
fi
echo
echo "baseline: pgbench checkouts/s = $checkout_tps, minimal checkouts/s = $minimal_tps, hot-row reserves/s = $hotrow_tps"
if [ "$ratio" != null ]; then
  echo "API checkouts/s = $api_rate → API ÷ pgbench checkout = $ratio, API ÷ minimal = $minimal_ratio"
fi
printf '{"scenario":"baseline","clients":%s,"duration_s":%s,"pgbench_checkouts_per_s":%s,"pgbench_minimal_checkouts_per_s":%s,"pgbench_hotrow_reserves_per_s":%s,"api_checkouts_per_s":%s,"api_over_pgbench":%s,"api_over_minimal":%s,"loadavg":"%s","at":"%s"}\n' \
  "$CLIENTS" "$DURATION" "$checkout_tps" "$minimal_tps" "$hotrow_tps" "$api_rate" "$ratio" "$minimal_ratio" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
