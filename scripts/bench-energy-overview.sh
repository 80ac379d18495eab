#!/usr/bin/env bash
# The Energy overview page under load: a throwaway PostgreSQL seeded with SERVICES services ×
# 2 nodes × 90 days of daily and 7 days of hourly rollups (the energy bench's loader), the
# release `canopy` server, and wrk on /energy and /energy?period=90d. Prints requests/s and
# latency percentiles (p99). Asserts nothing about time.
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
    cargo bench -q -p canopy-server --bench energy
psql -q "$db_url" -c "VACUUM ANALYZE"

step "Building the server ($profile)"
cargo build -q -p canopy-server --bin canopy "${cargo_profile[@]}"
bin="$CARGO_TARGET_DIR/$profile/canopy"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
step "Starting $bin on 127.0.0.1:$port"
DATABASE_URL="$db_url" CANOPY_LISTEN_ADDR="127.0.0.1:$port" CANOPY_SANDBOX=off \
    CANOPY_SITE_ROOT="$work/site" CANOPY_API_TOKEN="bench-overview-token-0123456789" \
    RUST_LOG="${RUST_LOG:-warn}" "$bin" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/energy" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server exited"; }
    sleep 0.2
done
curl -s -o "$work/page.html" -w '%{http_code}\n' "http://127.0.0.1:$port/energy?period=90d" >&2
grep -q "svc-1" "$work/page.html" \
    || { head -c 3000 "$work/page.html" >&2; die "the 90-day page lists no service: is the seed loaded?"; }

for path in "/energy" "/energy?period=90d"; do
    single="$(curl -s -o /dev/null -w '%{time_total}s, %{size_download} bytes' "http://127.0.0.1:$port$path")"
    info "one request alone: $single"
    step "wrk -t$threads -c$connections -d$duration --timeout 60s --latency http://127.0.0.1:$port$path"
    out="$(wrk -t"$threads" -c"$connections" -d"$duration" --timeout 60s --latency "http://127.0.0.1:$port$path")"
    echo "$out" >&2
    rps="$(echo "$out" | awk '/^Requests\/sec/ {print $2}')"
    p50="$(echo "$out" | awk '$1 == "50%" {print $2}')"
    p99="$(echo "$out" | awk '$1 == "99%" {print $2}')"
    errors="$(echo "$out" | awk '/Non-2xx|Socket errors/' | tr '\n' ' ')"
    printf 'overview %-20s %s services: %s requests/s, p50 %s, p99 %s (alone: %s) %s\n' \
        "$path" "$services" "$rps" "$p50" "$p99" "$single" "${errors:+($errors)}"
done
