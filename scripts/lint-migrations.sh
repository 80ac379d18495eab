#!/usr/bin/env bash
# Lints the SQL migrations with squawk (squawk-cli from npm, pinned, installed once under
# $CANOPY_CACHE_DIR/tools): a migration must not break the replica still running the previous
# release during a rolling upgrade (renamed or dropped tables and columns, a new NOT NULL column
# without a default, a type change, a blocking index build, locks without a timeout).
#
# Migrations up to BASELINE were applied before the lint was adopted and cannot change (sqlx
# checks their checksums); two of them broke that rule (see docs/ARCHITECTURE.md, "Upgrades").
# Every later migration must pass. A self-test first checks that the lint does refuse a table
# rename, so a broken install cannot pass silently.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

SQUAWK_VERSION=2.66.0
BASELINE=20261130000020
tools="$CANOPY_CACHE_DIR/tools/squawk-$SQUAWK_VERSION"
squawk="$tools/node_modules/.bin/squawk"
if [ ! -x "$squawk" ]; then
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "squawk-cli@$SQUAWK_VERSION" >&2
fi

# sqlx runs each migration in one transaction (all or nothing), so IF NOT EXISTS guards add
# nothing; bounded counters (weekday, hour, attempts) with CHECK constraints need no bigint;
# BIGSERIAL is the schema's convention for surrogate keys.
lint() {
    NO_COLOR=1 "$squawk" --reporter gcc --pg-version 15 --assume-in-transaction \
        --exclude prefer-robust-stmts,prefer-bigint-over-int,prefer-bigint-over-smallint,prefer-identity \
        "$@"
}

sample="$(mktemp -d)/0001_rename.sql"
printf 'SET lock_timeout = %s;\nALTER TABLE deploys RENAME TO deploys_old;\n' "'5s'" > "$sample"
if out="$(lint "$sample" 2>&1)" || ! grep -q renaming-table <<<"$out"; then
    die "squawk self-test: a table rename was not refused: $out"
fi
rm -rf "$(dirname "$sample")"

checked=()
for migration in migrations/*.sql; do
    version="$(basename "$migration" | cut -d_ -f1)"
    if [[ "$version" > "$BASELINE" ]]; then
        checked+=("$migration")
    fi
done
if [ ${#checked[@]} -eq 0 ]; then
    info "no migration after the baseline $BASELINE to lint (squawk $SQUAWK_VERSION works: self-test passed)"
    exit 0
fi
lint "${checked[@]}"
info "squawk: ${#checked[@]} migration(s) after $BASELINE pass"
