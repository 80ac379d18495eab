#!/usr/bin/env bash
# The Energy overview page under load: /energy and /energy?period=90d of scripts/bench-pages.sh
# (every response checked by scripts/wrk-check.lua; failed responses counted apart from the
# rate; a static file side by side) on a throwaway PostgreSQL seeded with SERVICES services
# (500) in TEAMS teams (50) by scripts/seed-scale.sh. Asserts nothing about time.
#   scripts/bench-energy-overview.sh
# Optional: SERVICES, TEAMS, DURATION (30s), THREADS (2), CONNECTIONS (32), PROFILE (release;
#   `debug` to reuse a debug build), KEEP=1 (keep the database directory), PAGES (default
#   "static energy energy-90d").
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

work="$(mktemp -d /tmp/canopy-overview-bench.XXXXXX)"
cleanup() {
    "$REPO_ROOT/scripts/test-postgres.sh" stop "$work/pg" >/dev/null 2>&1 || true
    [ "${KEEP:-}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

SERVICES="${SERVICES:-500}" TEAMS="${TEAMS:-50}" DURATION="${DURATION:-30s}" \
    PAGES="${PAGES:-static energy energy-90d}" "$REPO_ROOT/scripts/bench-pages.sh" "$work"
