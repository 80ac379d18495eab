#!/usr/bin/env bash
# Seeds a PostgreSQL database at the scale of issue 16 (docs/PERFORMANCE.md): SERVICES services
# (10,000) in TEAMS teams (200), each deployed to dev, staging and prod over the last four
# weeks (1-4 revisions per environment; some failed, a few still rolling out), with 90 days of
# energy history (daily rollups, 7 days hourly, idle energy per node, and the precomputed
# totals the pages read). The loader is the energy benchmark's (`cargo bench -p canopy-server
# --bench energy` with BENCH_SEED_ONLY=1, dev profile: the work is SQL). Its own PostgreSQL lives
# in DIR and is kept: a second run with the same DIR finds the seeded database and only starts
# PostgreSQL again.
#   scripts/seed-scale.sh [DIR]          (default /tmp/canopy-scale)
# Prints DATABASE_URL=... (the seeded database) on stdout; scripts/bench-pages.sh uses it.
# Stop it with: scripts/test-postgres.sh stop DIR/pg
# Optional: SERVICES (10000), TEAMS (200), RESEED=1 (drop and seed again).
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

dir="${1:-/tmp/canopy-scale}"
services="${SERVICES:-10000}"
teams="${TEAMS:-200}"
db="canopy_scale_${services}_${teams}"

mkdir -p "$dir"
chmod 755 "$dir" # PostgreSQL runs as its own user when this script runs as root
pg_env="$("$REPO_ROOT/scripts/test-postgres.sh" start "$dir/pg")" || die "PostgreSQL did not start"
admin_url="${pg_env#DATABASE_URL=}"
db_url="${admin_url%/*}/$db"

seeded() { [ "$(psql -tAq "$admin_url" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" = 1 ] \
    && [ -f "$dir/$db.seeded" ]; }
if [ "${RESEED:-}" = 1 ] || ! seeded; then
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    psql -q "$admin_url" -c "CREATE DATABASE $db"
    rm -f "$dir/$db.seeded"
    step "Seeding $services services in $teams teams, 3 environments, 90 days of energy into $db"
    began=$SECONDS
    BENCH_SEED_ONLY=1 BENCH_SERVICES="$services" BENCH_TEAMS="$teams" DATABASE_URL="$db_url" \
        cargo bench -q -p canopy-server --bench energy --profile dev >&2
    psql -q "$db_url" -c "VACUUM ANALYZE" >&2
    touch "$dir/$db.seeded"
    info "seeded in $((SECONDS - began)) s: $(psql -tAq "$db_url" -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"
else
    info "$db in $dir is already seeded (RESEED=1 to seed again)"
fi
echo "DATABASE_URL=$db_url"
