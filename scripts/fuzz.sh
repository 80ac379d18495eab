#!/usr/bin/env bash
# Fuzzes Canopy's parsers (canopy.yaml, the ingest payload, /proc and sysfs) for a wall-clock
# budget each, on stable Rust: random mutations of the committed corpus (fuzz/corpus/TARGET),
# every panic a bug (its input lands in fuzz/artifacts/TARGET and the script fails).
#   scripts/fuzz.sh [TARGET...]      default: canopy-yaml ingest procfs sysfs
# Environment: DURATION seconds per target (default 600), JOBS targets at once (default 1;
# each uses one core), SEED (default random, printed), SAVE_NEW inputs with new outcomes to
# add to the corpus (default 0). Not part of `make test` (docs/RELIABILITY.md).
source "$(dirname "$0")/common.sh"

DURATION="${DURATION:-600}"
JOBS="${JOBS:-1}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(canopy-yaml ingest procfs sysfs)

step "Building the fuzz driver (debug: integer overflow panics, as it should)"
cd "$REPO_ROOT"
SQLX_OFFLINE=true cargo build -p canopy-fuzz
bin="$CARGO_TARGET_DIR/debug/canopy-fuzz"
logs="$(mktemp -d)"

run() {
    local target="$1"
    local args=("$target" --duration-secs "$DURATION" --save-new "${SAVE_NEW:-0}")
    [ -n "${SEED:-}" ] && args+=(--seed "$SEED")
    "$bin" "${args[@]}" >"$logs/$target.out" 2>"$logs/$target.err"
    echo $? >"$logs/$target.rc"
}

step "Fuzzing ${targets[*]} for ${DURATION}s each, $JOBS at a time"
running=0
for target in "${targets[@]}"; do
    run "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait

failed=0
for target in "${targets[@]}"; do
    cat "$logs/$target.out"
    grep -v '^\[' "$logs/$target.err" >&2 || true
    [ "$(cat "$logs/$target.rc")" = 0 ] || failed=1
done
rm -rf "$logs"
[ "$failed" = 0 ] || die "a fuzz target panicked (inputs in fuzz/artifacts/): each is a bug to fix with a regression test"
info "no panic"
