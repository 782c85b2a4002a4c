#!/usr/bin/env bash
# Fuzzes a live server with graphqler (README.md beside this file): a pinned Python venv in
# tests/fuzz/.venv (made once, reused while requirements.txt is unchanged), the debug server on
# a free loopback port with a fresh SQLite database, a registered ORGANIZER and USER whose
# bearer tokens graphqler uses, graphqler for FUZZ_SECONDS (default 90), then the verdict:
# non-zero exit if the server died, /healthz stopped answering, or any response was a 5xx or an
# INTERNAL_SERVER_ERROR (from graphqler's side and from the server's own JSON log).
# Outputs go to tests/fuzz/out/<UTC time>/ (tests/fuzz/out/latest points at the newest).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

FUZZ_SECONDS="${FUZZ_SECONDS:-90}"
[[ "$FUZZ_SECONDS" =~ ^[0-9]+$ ]] && (( FUZZ_SECONDS >= 10 )) || { echo "fuzz: FUZZ_SECONDS must be a whole number >= 10" >&2; exit 2; }

log() { printf '[fuzz %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf '[fuzz] FAIL: %s\n' "$*" >&2; exit 1; }

# ---- Python venv with the pinned graphqler (graphqler 2.x needs Python 3.11 or 3.12) ----
pick_python() {
  local c
  for c in "${FUZZ_PYTHON:-}" python3.12 python3.11 python3; do
    [[ -n "$c" ]] && command -v "$c" >/dev/null 2>&1 || continue
    if "$c" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}
venv="$here/.venv"
stamp="$venv/.installed-requirements.txt"
if [[ -x "$venv/bin/python" ]] && cmp -s "$here/requirements.txt" "$stamp"; then
  log "reusing $venv (requirements.txt unchanged)"
else
  py="$(pick_python)" || die "graphqler needs Python 3.11 or 3.12 (set FUZZ_PYTHON)"
  log "creating $venv with $py and installing tests/fuzz/requirements.txt"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$stamp"
fi
vpy="$venv/bin/python"
log "graphqler $("$vpy" -c 'import importlib.metadata as m; print(m.version("GraphQLer"))')"

# ---- server binary ----
log "cargo build --bin evenntify"
cargo build --bin evenntify
binary="${CARGO_TARGET_DIR:-$repo/target}/debug/evenntify"
[[ -x "$binary" ]] || die "no server binary at $binary"

# ---- output directory, temp database, free port ----
out="$here/out/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/graphqler"
ln -sfn "$(basename "$out")" "$here/out/latest"
# Keep the newest FUZZ_KEEP_RUNS runs (default 5; a run is about 20 MB).
keep="${FUZZ_KEEP_RUNS:-5}"
[[ "$keep" =~ ^[1-9][0-9]*$ ]] || keep=5
ls -1d "$here"/out/2*Z 2>/dev/null | sort | head -n "-$keep" | xargs -r rm -rf
tmp="$(mktemp -d "${TMPDIR:-/tmp}/evenntify-fuzz.XXXXXX")"
port="$("$vpy" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

log "starting $binary serve on $base (database $tmp/fuzz.db, log $out/server.log)"
# tower_http=debug makes the trace layer log every response with its status.
env -u REDIS_URL -u JWT_SECRET \
  DATABASE_URL="sqlite://$tmp/fuzz.db?mode=rwc" \
  BIND_ADDR="127.0.0.1:$port" \
  LOG_FORMAT=json \
  RUST_LOG="info,tower_http=debug,sqlx=warn,sea_orm=warn,sea_orm_migration=warn" \
  REGISTRATIONS_PER_IP_PER_MINUTE=100000 MUTATIONS_PER_MINUTE=100000 \
  LOGIN_ATTEMPTS_PER_MINUTE=100000 LOGIN_ATTEMPTS_PER_IP_PER_MINUTE=100000 \
  ACCESS_TOKEN_TTL_SECONDS=3600 \
  "$binary" serve >"$out/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 120); do
  curl -fsS -m 2 "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$out/server.log" >&2; die "server exited during startup"; }
  sleep 0.5
done
curl -fsS -m 2 "$base/healthz" >/dev/null 2>&1 || die "server did not answer /healthz within 60 s"
log "server up (pid $server_pid)"

# ---- accounts through the API (and one published event, so queries have data to find) ----
gql() { # gql <token or -> <json body>: prints the response body, fails on non-200
  local auth=()
  [[ "$1" != "-" ]] && auth=(-H "Authorization: Bearer $1")
  curl -fsS -m 20 -X POST "$base/graphql" -H 'Content-Type: application/json' "${auth[@]}" --data "$2"
}
register() { # register <username> <role>: prints the access token
  local body
  body="$(jq -nc --arg u "$1" --arg r "$2" \
    '{query: "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id role } } }",
      variables: {i: {username: $u, password: "fuzz-password-1", role: $r}}}')"
  gql - "$body" | jq -er '.data.register.accessToken'
}
suffix="$(date +%s)"
organizer_token="$(register "fuzz_org_$suffix" ORGANIZER)" || die "could not register the organizer"
user_token="$(register "fuzz_user_$suffix" USER)" || die "could not register the user"
starts="$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)"
event_id="$(gql "$organizer_token" "$(jq -nc --arg s "$starts" \
  '{query: "mutation($i: CreateEventInput!) { createEvent(input: $i) { id } }",
    variables: {i: {title: "Fuzz fixture", venue: "Loopback Hall", startsAt: $s,
                    ticketTypes: [{name: "General", capacity: 1000, priceCents: 1500}, {name: "Free", capacity: 1000, priceCents: 0}]}}}')" \
  | jq -er '.data.createEvent.id')" || die "could not create the fixture event"
gql "$organizer_token" "$(jq -nc --arg id "$event_id" '{query: "mutation($id: ID!) { publishEvent(id: $id) { id status } }", variables: {id: $id}}')" \
  | jq -e '.data.publishEvent.id' >/dev/null || die "could not publish the fixture event"
gql "$user_token" '{"query":"mutation { topUpWallet(amountCents: 100000, idempotencyKey: \"fuzz-topup\", cardToken: \"tok_visa\") { balanceCents } }"}' \
  | jq -e '.data.topUpWallet' >/dev/null || log "note: wallet top-up for the user failed (continuing)"
log "registered fuzz_org_$suffix (ORGANIZER) and fuzz_user_$suffix (USER); published event $event_id"

# ---- graphqler ----
# One compile (introspection → dependency graph), then fuzz passes until FUZZ_SECONDS is used:
# as the organizer, as the user, without a token, and round again. Each pass is capped by
# graphqler's own MAX_TIME with the time left. Nothing is fetched from the network: the schema
# comes from introspection, so graphqler's clairvoyance fallback (wordlists) is never needed.
export FUZZ_REQUEST_LOG="$out/requests.jsonl" MPLBACKEND=Agg
: >"$FUZZ_REQUEST_LOG"
gq() { "$vpy" "$here/graphqler_recorded.py" --url "$base/graphql" "$@"; }
started=$SECONDS
log "graphqler --mode compile"
gq --path "$out/graphqler/compiled" --mode compile >"$out/graphqler-compile.out" 2>&1 \
  || { tail -n 30 "$out/graphqler-compile.out" >&2; die "graphqler compile failed (see $out/graphqler-compile.out)"; }
pass=0
roles=(organizer user anonymous)
while :; do
  left=$(( FUZZ_SECONDS - (SECONDS - started) ))
  (( left >= 5 )) || break
  role="${roles[$(( pass % 3 ))]}"
  pass=$(( pass + 1 ))
  dir="$out/graphqler/pass$pass-$role"
  cp -r "$out/graphqler/compiled" "$dir"
  rm -rf "$dir/logs"
  printf 'MAX_TIME = %d\nTIME_BETWEEN_REQUESTS = 0.001\nMAX_FUZZING_ITERATIONS = 5\n' "$left" >"$dir/config.toml"
  auth=()
  case "$role" in
    organizer) auth=(--auth "Bearer $organizer_token") ;;
    user) auth=(--auth "Bearer $user_token") ;;
  esac
  log "graphqler --mode fuzz, pass $pass as $role, up to ${left}s"
  # graphqler stops its worker at MAX_TIME; `timeout` is only a backstop if it hangs.
  timeout -k 5 $(( left + 30 )) "$vpy" "$here/graphqler_recorded.py" --url "$base/graphql" --path "$dir" \
    --config "$dir/config.toml" --mode fuzz "${auth[@]}" >"$dir/graphqler.out" 2>&1 \
    || log "graphqler pass $pass exited with status $? (see $dir/graphqler.out)"
  kill -0 "$server_pid" 2>/dev/null || break
done
fuzz_seconds=$(( SECONDS - started ))
log "graphqler done: $pass pass(es) in ${fuzz_seconds}s"

# ---- verdict ----
alive=1; healthy=1
kill -0 "$server_pid" 2>/dev/null || alive=0
if (( alive )); then
  curl -fsS -m 5 "$base/healthz" >/dev/null 2>&1 || healthy=0
  curl -fsS -m 5 "$base/metrics" >"$out/metrics.txt" 2>/dev/null || : >"$out/metrics.txt"
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
else
  healthy=0
  : >"$out/metrics.txt"
fi
server_pid=""

set +e
"$vpy" "$here/summarize.py" --out "$out" --alive "$alive" --healthy "$healthy" \
  --passes "$pass" --seconds "$fuzz_seconds" | tee "$out/summary.txt"
verdict=${PIPESTATUS[0]}
set -e
exit "$verdict"
