#!/usr/bin/env bash
# Regenerates (default) or checks (--check) the committed sqlx offline query metadata in .sqlx/.
# Needs DATABASE_URL pointing at a PostgreSQL server; works in a scratch database there,
# migrated from migrations/, so the metadata always matches the committed schema.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL must point at a PostgreSQL server (scripts/test-postgres.sh start DIR)"

scratch="canopy_sqlx_$$"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $scratch"
trap 'psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $scratch" >/dev/null 2>&1 || true' EXIT
scratch_url="${DATABASE_URL%/*}/$scratch"
for migration in migrations/*.sql; do
    # One transaction per migration, as sqlx applies them (LOCK TABLE needs one), except those
    # marked `-- no-transaction` (CREATE INDEX CONCURRENTLY cannot run in one).
    single=(-1); head -1 "$migration" | grep -q '^-- no-transaction' && single=()
    psql -q "${single[@]}" -v ON_ERROR_STOP=1 "$scratch_url" -f "$migration" >/dev/null
done

out="$(mktemp -d)"
# The query macros only run when the crates recompile: touch every crate that uses them.
grep -rl --include='*.rs' 'sqlx::query[a-z_]*!' server/src server/tests 2>/dev/null | xargs -r touch
SQLX_OFFLINE=false DATABASE_URL="$scratch_url" SQLX_OFFLINE_DIR="$out" \
    cargo check -q -p canopy-server --all-targets
if [ "${1:-}" = "--check" ]; then
    if ! diff -r "$out" .sqlx >/dev/null; then
        diff -r "$out" .sqlx >&2 || true
        die ".sqlx/ is out of date: run scripts/sqlx-prepare.sh with DATABASE_URL set and commit the result"
    fi
    info ".sqlx/ matches the queries and the schema ($(ls "$out" | wc -l) queries)"
else
    rm -rf .sqlx && mv "$out" .sqlx
    info "wrote .sqlx/ ($(ls .sqlx | wc -l) queries)"
fi
