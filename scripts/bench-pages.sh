#!/usr/bin/env bash
# Canopy's pages at the scale of issue 16 (docs/PERFORMANCE.md): 10,000 services in 200 teams
# (scripts/seed-scale.sh; its database is kept in DIR and reused), the `canopy` server, and
# wrk with 32 connections on each page, side by side with a static file served by the same
# server in the same run (the stylesheet under /pkg/). Every response is checked
# (scripts/wrk-check.lua: status 200 and a marker of the page's real content); failed responses
# are counted apart from the rate. For each page: good responses/s, failed (by status), p50/p99
# (wrk's, over every answer), the bytes of the page's HTML (the largest of 6 answers), the time
# of one request alone (the first after start: nothing computed yet), and PASS/FAIL against the
# targets:
#   every page ≤ 100 KB of HTML, p99 ≤ 100 ms, ≥ 300 good responses/s, 0 failed;
#   /services (first page) ≥ 2,000 responses/s with p99 ≤ 30 ms.
# Asserts nothing (prints figures); exits 0 unless the setup fails.
#   scripts/bench-pages.sh [DIR]                      (DIR default /tmp/canopy-scale)
# Optional: PROFILE (release; `debug` for a debug build), PAGES (names to run, e.g.
#   "energy energy-90d team"), DURATION (15s), CONNECTIONS (32), THREADS (2), SERVICES/TEAMS
#   (seed size), SKIP_BUILD=1 (use the binary already built), CANOPY_SITE_ROOT (the bundle;
#   default the profile's site under CARGO_TARGET_DIR),
#   CANOPY_BIN (another server binary, e.g. an older build to compare with; implies SKIP_BUILD)
#   with BENCH_DATABASE_URL (a database it can start on, instead of the seeded one).
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

dir="${1:-/tmp/canopy-scale}"
duration="${DURATION:-15s}"
threads="${THREADS:-2}"
connections="${CONNECTIONS:-32}"
profile="${PROFILE:-release}"
cargo_profile=(); [ "$profile" = release ] && cargo_profile=(--release)
target_dir="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"

command -v wrk >/dev/null || apt_install wrk
command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"

db_url="${BENCH_DATABASE_URL:-$("$REPO_ROOT/scripts/seed-scale.sh" "$dir" | sed -n 's/^DATABASE_URL=//p')}"
[ -n "$db_url" ] || die "scripts/seed-scale.sh gave no database"

if [ "${SKIP_BUILD:-}" != 1 ] && [ -z "${CANOPY_BIN:-}" ]; then
    step "Building the server ($profile)"
    cargo build -q -p canopy-server --bin canopy "${cargo_profile[@]}"
fi
bin="${CANOPY_BIN:-$target_dir/$profile/canopy}"
[ -x "$bin" ] || die "$bin is missing (build it, or drop SKIP_BUILD)"
site="${CANOPY_SITE_ROOT:-$target_dir/$profile/site}"
[ -f "$site/manifest.json" ] || site="$target_dir/debug/site"
[ -f "$site/manifest.json" ] || die "no bundle in $site: run scripts/build.sh first (the static file comes from it)"
pkg_dir="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pkg_dir"])' "$site/manifest.json")"
css="/$pkg_dir/canopy.css"
css_marker="$(head -c 200 "$site/$pkg_dir/canopy.css" | tr -d '\n"\\' | cut -c1-24)"

work="$(mktemp -d /tmp/canopy-pages-bench.XXXXXX)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
step "Starting $bin on 127.0.0.1:$port ($db_url)"
token="bench-pages-token-0123456789"
# The pages need someone signed in: the bootstrap API token, as a bearer (no session to read).
auth="Authorization: Bearer $token"
DATABASE_URL="$db_url" CANOPY_LISTEN_ADDR="127.0.0.1:$port" CANOPY_SANDBOX=off \
    CANOPY_SITE_ROOT="$site" CANOPY_API_TOKEN="$token" \
    RUST_LOG="${RUST_LOG:-warn}" "$bin" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do
    curl -fs -o /dev/null "$base/readyz" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server exited"; }
    sleep 0.2
done

team="team-7"
service="svc-1207" # of team-7 (svc-N is in team-(N mod TEAMS) with the default 200 teams)
query="svc-123"
# name|path|marker|min good responses/s|max p99 ms|max bytes (0: no limit)
pages=(
    "static|$css|$css_marker|300|100|0"
    "home|/|data-testid=\"home-attention\"|300|100|102400"
    "services|/services|data-testid=\"catalogue\"|2000|30|102400"
    "services-search|/services?q=$query|data-testid=\"catalogue\"|300|100|102400"
    "service|/services/$team/$service?env=prod|data-testid=\"current-revision\"|300|100|102400"
    "service-energy|/services/$team/$service/energy?env=prod|data-testid=\"service-energy\"|300|100|102400"
    "energy|/energy|data-testid=\"energy-totals\"|300|100|102400"
    "energy-90d|/energy?period=90d|data-testid=\"energy-totals\"|300|100|102400"
    "team|/teams/$team|data-testid=\"team-total\"|300|100|102400"
)
wanted=" ${PAGES:-static home services services-search service service-energy energy energy-90d team} "

to_ms() { # wrk's latency (850.00us, 12.34ms, 1.20s, 2.00m) in ms
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
        printf "%.1f", n }'
}

summary=()
for entry in "${pages[@]}"; do
    IFS='|' read -r name path marker min_rps max_p99 max_bytes <<<"$entry"
    [[ "$wanted" == *" $name "* ]] || continue
    single="$(curl -s -H "$auth" -o "$work/single.html" -w '%{http_code} %{time_total} %{size_download}' "$base$path")"
    read -r single_status single_secs bytes <<<"$single"
    single_ms="$(awk -v s="$single_secs" 'BEGIN { printf "%.0f", s * 1000 }')"
    grep -qF "$marker" "$work/single.html" || single_status="$single_status (no marker)"
    # The same page's size varies between requests (Leptos names the route's wasm modules to
    # preload in some answers and not in others, 14-17 KB of <link>s): the largest of 5 counts.
    for _ in 1 2 3 4 5; do
        again="$(curl -s -H "$auth" -o "$work/again.html" -w '%{http_code} %{size_download}' "$base$path")"
        read -r again_status again_bytes <<<"$again"
        grep -qF "$marker" "$work/again.html" || again_status="$again_status (no marker)"
        [[ "$again_status" == 200 ]] || single_status="$again_status"
        [ "$again_bytes" -gt "$bytes" ] && bytes="$again_bytes"
    done
    step "$name: wrk -t$threads -c$connections -d$duration $base$path (marker $marker)"
    out="$(wrk -t"$threads" -c"$connections" -d"$duration" --timeout 10s --latency -H "$auth" \
        -s "$REPO_ROOT/scripts/wrk-check.lua" "$base$path" -- "$marker")"
    echo "$out" >&2
    checked="$(echo "$out" | grep '^checked:')" || die "wrk-check.lua printed no result"
    good_rps="$(echo "$checked" | sed -E 's/.*, ([0-9.]+) good responses\/s/\1/')"
    failed_count="$(echo "$checked" | sed -E 's/^checked: [0-9]+ ok, ([0-9]+) failed.*/\1/')"
    failed_why="$(echo "$checked" | sed -E 's/^checked: [0-9]+ ok, [0-9]+ failed \(([^)]*)\).*/\1/')"
    p50="$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")"
    p99="$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
    verdict=PASS; why=()
    awk -v a="$good_rps" -v b="$min_rps" 'BEGIN { exit !(a < b) }' && { verdict=FAIL; why+=("rate < $min_rps/s"); }
    awk -v a="$p99" -v b="$max_p99" 'BEGIN { exit !(a > b) }' && { verdict=FAIL; why+=("p99 > $max_p99 ms"); }
    [ "$failed_count" -gt 0 ] && { verdict=FAIL; why+=("$failed_count failed"); }
    [ "$max_bytes" -gt 0 ] && [ "$bytes" -gt "$max_bytes" ] && { verdict=FAIL; why+=("$bytes bytes > $max_bytes"); }
    [[ "$single_status" == 200 ]] || { verdict=FAIL; why+=("single request: $single_status"); }
    line="$(printf '| %-15s | %-28s | %8s | %s (%s) | %7s | %7s | %8s | %6s ms | %s %s |' \
        "$name" "$path" "$good_rps" "$failed_count" "$failed_why" "$p50" "$p99" "$bytes" \
        "$single_ms" "$verdict" "$(IFS=';'; echo "${why[*]:-}")")"
    echo "$line"
    summary+=("$line")
done

echo
echo "Pages under wrk -t$threads -c$connections -d$duration ($profile build, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo "| page | path | good/s | failed (why) | p50 ms | p99 ms | bytes | alone, first | verdict |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${summary[@]}"

echo
echo "Browser bundle served in this run ($site/$pkg_dir):"
if [ -f "$site/$pkg_dir/__wasm_split_manifest.json" ]; then
    python3 "$REPO_ROOT/scripts/bundle-size.py" "$site/$pkg_dir"
else
    echo "  (not a split bundle: built before lazy routes)"
fi
