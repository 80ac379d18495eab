#!/usr/bin/env bash
# Load test: a release build of Canopy on a fresh database, under CLIENTS concurrent clients
# for DURATION: pages, server functions, REST, ingest from NODES simulated nodes (node tokens of
# their own) and FOLLOWERS SSE followers (canopy-loadgen; every response checked for its status
# and a content marker). Prints errors and p50/p99 per route, the ingest totals against the
# server's counters, and the server's memory (VmRSS) before, during and after.
#   scripts/load-test.sh
# Environment: DURATION (seconds, default 600), CLIENTS (200), NODES (50), FOLLOWERS (20),
# LOAD_DIR (scratch: database, data dir, logs, report; default /tmp/canopy-load).
# The shared request rate limit is set to its maximum here (CANOPY_RATE_LIMIT_PER_SECOND=100000,
# CANOPY_RATE_LIMIT_BURST=1000000):
# every client is the one admin (or its node tokens), and the point is the server's capacity,
# not the limiter's. No cluster (CANOPY_SANDBOX=off): the pages and APIs that read services,
# energy and dependencies run; deploys are the fault test's (scripts/fault-test.sh).
# Not part of `make test` (docs/RELIABILITY.md).
source "$(dirname "$0")/common.sh"

DURATION="${DURATION:-600}"
CLIENTS="${CLIENTS:-200}"
NODES="${NODES:-50}"
FOLLOWERS="${FOLLOWERS:-20}"
LOAD_DIR="${LOAD_DIR:-/tmp/canopy-load}"
mkdir -p "$LOAD_DIR"

cd "$REPO_ROOT"
step "Building canopy (release) and canopy-loadgen"
SQLX_OFFLINE=true cargo build --release -p canopy-server --bin canopy
SQLX_OFFLINE=true cargo build --release -p canopy-loadgen
bin="$CARGO_TARGET_DIR/release/canopy"
loadgen="$CARGO_TARGET_DIR/release/canopy-loadgen"
# The pages' HTML does not depend on the bundle; browsers hydrating them would. The release
# bundle when scripts/build.sh --release made one, else the debug one.
site="$CARGO_TARGET_DIR/release/site"
[ -f "$site/manifest.json" ] || site="$CARGO_TARGET_DIR/debug/site"
[ -f "$site/manifest.json" ] || die "no site bundle: run scripts/build.sh first"

step "A fresh database"
pg_url="$("$REPO_ROOT/scripts/test-postgres.sh" start "$LOAD_DIR/pg" | sed -n 's/^DATABASE_URL=//p')"
psql "$pg_url" -q -c "DROP DATABASE IF EXISTS canopy_load WITH (FORCE)" -c "CREATE DATABASE canopy_load"
db_url="${pg_url%/postgres}/canopy_load"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
token="load-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
rm -rf "$LOAD_DIR/data"; mkdir -p "$LOAD_DIR/data"
step "Starting canopy on 127.0.0.1:$port"
DATABASE_URL="$db_url" CANOPY_API_TOKEN="$token" CANOPY_LISTEN_ADDR="127.0.0.1:$port" \
    CANOPY_SANDBOX=off CANOPY_DATA_DIR="$LOAD_DIR/data" CANOPY_SITE_ROOT="$site" \
    CANOPY_RATE_LIMIT_PER_SECOND=100000 CANOPY_RATE_LIMIT_BURST=1000000 \
    RUST_LOG="${RUST_LOG:-warn}" "$bin" >"$LOAD_DIR/canopy.log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null || true
    wait 2>/dev/null || true
    "$REPO_ROOT/scripts/test-postgres.sh" stop "$LOAD_DIR/pg"
}
trap cleanup EXIT
for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { tail -20 "$LOAD_DIR/canopy.log" >&2; die "canopy exited"; }
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || die "canopy did not become ready"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
rss_start="$(rss)"
info "VmRSS after start: $rss_start kB"
( while sleep 10; do echo "$(date +%s) $(rss)"; done ) >"$LOAD_DIR/rss.txt" &
sampler=$!

step "Load: $CLIENTS clients ($NODES nodes ingesting, $FOLLOWERS SSE followers) for ${DURATION}s"
set +e
CANOPY_API_TOKEN="$token" CANOPY_ADMIN_PASSWORD="$(cat "$LOAD_DIR/data/initial-admin-password")" \
    "$loadgen" --base-url "http://127.0.0.1:$port" --duration-secs "$DURATION" --clients "$CLIENTS" \
    --nodes "$NODES" --followers "$FOLLOWERS" --report "$LOAD_DIR/report.json"
status=$?
set -e
rss_end="$(rss)"
sleep 30
rss_idle="$(rss)"
kill "$sampler" 2>/dev/null || true; sampler=""
rss_peak="$(awk '$2 > m {m = $2} END {print m}' "$LOAD_DIR/rss.txt")"
rss_1min="$(awk 'NR == 6 {print $2}' "$LOAD_DIR/rss.txt")"
step "Server memory (VmRSS, kB)"
info "after start $rss_start; after 1 min of load ${rss_1min:-n/a}; peak $rss_peak; at the end $rss_end; 30 s after $rss_idle"
info "samples every 10 s: $LOAD_DIR/rss.txt; report: $LOAD_DIR/report.json; server log: $LOAD_DIR/canopy.log"
panics="$(grep -c 'panicked' "$LOAD_DIR/canopy.log" || true)"
info "panics in the server log: $panics"
[ "$status" = 0 ] && [ "$panics" = 0 ] || die "the load test found errors (see above)"
