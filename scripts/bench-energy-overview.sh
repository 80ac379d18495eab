#!/usr/bin/env bash
# The Energy overview page under load: a throwaway PostgreSQL seeded with SERVICES services ×
# 2 nodes × 90 days of daily and 7 days of hourly rollups (the energy bench's loader), the
# release `canopy` server, and wrk on /energy and /energy?period=90d. Every response is checked
# (status 200 and the page's `data-testid="energy-totals"`, scripts/wrk-check.lua): the figures
# are the good responses per second and, apart, the failed ones (by status); wrk's own rate counts
# every answer, error pages included. Latency percentiles are wrk's, over every answer. Asserts
# nothing about time.
#   scripts/bench-energy-overview.sh
# Optional: SERVICES (default 500), DURATION (default 30s), THREADS (2), CONNECTIONS (32),
#   PROFILE (release; `debug` to reuse a debug build), KEEP=1 (keep the database directory).
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

services="${SERVICES:-500}"
duration="${DURATION:-30s}"
threads="${THREADS:-2}"
connections="${CONNECTIONS:-32}"
profile="${PROFILE:-release}"
cargo_profile=(); [ "$profile" = release ] && cargo_profile=(--release)
# The seeding loader is a bench target: release-like, unless PROFILE=debug (then the dev profile).
seed_profile=(); [ "$profile" = debug ] && seed_profile=(--profile dev)

command -v wrk >/dev/null || apt_install wrk
command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"

work="$(mktemp -d /tmp/canopy-overview-bench.XXXXXX)"
chmod 755 "$work" # PostgreSQL runs as its own user when this script runs as root
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    "$REPO_ROOT/scripts/test-postgres.sh" stop "$work/pg" >/dev/null 2>&1 || true
    [ "${KEEP:-}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

step "Starting a throwaway PostgreSQL in $work/pg"
pg_env="$("$REPO_ROOT/scripts/test-postgres.sh" start "$work/pg")" || die "PostgreSQL did not start"
eval "export $pg_env"
psql -q "$DATABASE_URL" -c "CREATE DATABASE canopy_overview"
db_url="${DATABASE_URL%/*}/canopy_overview"

step "Seeding $services services × 2 nodes × 90 days (cargo bench --bench energy, seed only)"
BENCH_SEED_ONLY=1 BENCH_SERVICES="$services" DATABASE_URL="$db_url" \
    cargo bench -q -p canopy-server --bench energy "${seed_profile[@]}"
psql -q "$db_url" -c "VACUUM ANALYZE"

step "Building the server ($profile)"
cargo build -q -p canopy-server --bin canopy "${cargo_profile[@]}"
bin="$CARGO_TARGET_DIR/$profile/canopy"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
step "Starting $bin on 127.0.0.1:$port"
token="bench-overview-token-0123456789"
# The pages need someone signed in: the bootstrap API token, as a bearer (no session to read).
auth="Authorization: Bearer $token"
marker='data-testid="energy-totals"'
DATABASE_URL="$db_url" CANOPY_LISTEN_ADDR="127.0.0.1:$port" CANOPY_SANDBOX=off \
    CANOPY_SITE_ROOT="$work/site" CANOPY_API_TOKEN="$token" \
    RUST_LOG="${RUST_LOG:-warn}" "$bin" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server exited"; }
    sleep 0.2
done
status="$(curl -s -H "$auth" -o "$work/page.html" -w '%{http_code}' "http://127.0.0.1:$port/energy?period=90d")"
[ "$status" = 200 ] && grep -q "svc-1" "$work/page.html" && grep -qF "$marker" "$work/page.html" \
    || { head -c 3000 "$work/page.html" >&2; die "the 90-day page answered $status without its services: is the seed loaded?"; }

for path in "/energy" "/energy?period=90d"; do
    single="$(curl -s -H "$auth" -o "$work/single.html" -w '%{http_code}, %{time_total}s, %{size_download} bytes' "http://127.0.0.1:$port$path")"
    grep -qF "$marker" "$work/single.html" || single="$single, WITHOUT the page's content"
    info "one request alone: $single"
    step "wrk -t$threads -c$connections -d$duration --timeout 60s --latency (every response checked) http://127.0.0.1:$port$path"
    out="$(wrk -t"$threads" -c"$connections" -d"$duration" --timeout 60s --latency -H "$auth" \
        -s "$REPO_ROOT/scripts/wrk-check.lua" "http://127.0.0.1:$port$path" -- "$marker")"
    echo "$out" >&2
    checked="$(echo "$out" | grep '^checked:')" || die "wrk-check.lua printed no result"
    good_rps="$(echo "$checked" | sed -E 's/.*, ([0-9.]+) good responses\/s/\1/')"
    ok="$(echo "$checked" | awk '{print $2}')"
    failed="$(echo "$checked" | sed -E 's/^checked: [0-9]+ ok, ([0-9]+ failed \([^)]*\)).*/\1/')"
    all_rps="$(echo "$out" | awk '/^Requests\/sec/ {print $2}')"
    p50="$(echo "$out" | awk '$1 == "50%" {print $2}')"
    p99="$(echo "$out" | awk '$1 == "99%" {print $2}')"
    printf 'overview %-20s %s services: %s good responses/s (%s pages); FAILED: %s; all answers %s/s, p50 %s, p99 %s (alone: %s)\n' \
        "$path" "$services" "$good_rps" "$ok" "$failed" "$all_rps" "$p50" "$p99" "$single"
done
