#!/usr/bin/env bash
# `make test`: sets up whatever is missing, then runs every check and test:
# formatting, clippy, the sqlx offline-metadata check, the Helm chart, unit and integration tests
# (real PostgreSQL, real Kubernetes control plane), and the browser tests (Debian's Chromium).
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
started=$SECONDS
timed() { info "done in $((SECONDS - t0)) s"; }

# Incremental compilation helps an editor's rebuilds, not a full test run, and its cache grows
# by gigabytes per change: off here.
export CARGO_INCREMENTAL=0

step "Setting up (idempotent; cached under $CANOPY_CACHE_DIR)"
# python3-aiosmtpd: the real SMTP server of the e-mail tests (scripts/smtp-sink.py);
# fonts-dejavu-core: the labels of the e-mail's PNG chart.
apt_install postgresql chromium python3-aiosmtpd fonts-dejavu-core
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked

work="$(mktemp -d /tmp/canopy-test-XXXXXX)"
# Starts a control plane in $1. Its ports are picked free just before binding, so another
# process can take one in between: try again (in a fresh folder) before giving up.
start_kube() {
    local attempt
    for attempt in 1 2 3; do
        if "$REPO_ROOT/scripts/kube-testenv.sh" start "$1.$attempt" >/dev/null; then
            ln -sfn "$1.$attempt" "$1"
            return 0
        fi
        "$REPO_ROOT/scripts/kube-testenv.sh" stop "$1.$attempt" || true
        info "control plane start attempt $attempt failed; retrying"
    done
    die "the Kubernetes control plane did not start (logs in $1.*)"
}
chmod 755 "$work"
cleanup() {
    "$REPO_ROOT/scripts/test-postgres.sh" stop "$work/pg" || true
    local dir
    for dir in "$work"/kube.* "$work"/kube-e2e.*; do
        if [ -x "$REPO_ROOT/scripts/kube-testenv.sh" ] && [ -d "$dir" ]; then
            "$REPO_ROOT/scripts/kube-testenv.sh" stop "$dir" || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

t0=$SECONDS; step "cargo fmt --check"
cargo fmt --all -- --check
timed

t0=$SECONDS; step "Migration lint (squawk: no change that breaks the previous release's replicas)"
"$REPO_ROOT/scripts/lint-migrations.sh"
timed

t0=$SECONDS; step "cargo clippy (server, agent and their tests; then the browser crate for wasm32)"
mapfile -t native_packages < <(cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print("\n".join(p["name"] for p in json.load(sys.stdin)["packages"] if p["name"] not in ("app","canopy-frontend")))')
pkg_args=(); for p in "${native_packages[@]}"; do pkg_args+=(-p "$p"); done
cargo clippy "${pkg_args[@]}" --all-targets -- -D warnings
eval "$("$REPO_ROOT/scripts/setup-wasm.sh")"
if [ "$WASM_ROUTE" = rustup ]; then
    cargo clippy -p canopy-frontend -p app --target wasm32-unknown-unknown -- -D warnings
else
    info "(wasm32 clippy skipped: Debian's toolchain route has no clippy)"
fi
timed

t0=$SECONDS; step "Building the site bundle and the server"
"$REPO_ROOT/scripts/build.sh"
cargo build -p canopy-sandbox --bin canopy-node-sim
cargo build -p canopy-github-double --bin canopy-github-double
timed

t0=$SECONDS; step "The release browser bundle and its size budget (docs/BUILDING.md)"
"$REPO_ROOT/scripts/build.sh" --release --bundle-only
timed

t0=$SECONDS; step "Starting a throwaway PostgreSQL for the tests"
export "$("$REPO_ROOT/scripts/test-postgres.sh" start "$work/pg")"
timed

t0=$SECONDS; step "Checking the committed sqlx query metadata (.sqlx/) against the schema"
"$REPO_ROOT/scripts/sqlx-prepare.sh" --check
timed

if [ -x "$REPO_ROOT/scripts/kube-testenv.sh" ]; then
    t0=$SECONDS; step "Kubernetes control plane for the sandbox tests (built once, cached)"
    "$REPO_ROOT/scripts/kube-testenv.sh" build
    start_kube "$work/kube"
    export CANOPY_TEST_KUBECONFIG="$work/kube/kubeconfig"
    timed
fi

t0=$SECONDS; step "Helm chart: lint, render, bad values refused, hardening, server-side dry run"
"$REPO_ROOT/scripts/test-helm-chart.sh"
timed

t0=$SECONDS; step "Unit and integration tests (cargo nextest)"
cargo nextest run "${pkg_args[@]}" -p app --no-fail-fast
timed

t0=$SECONDS; step "Browser tests (Chromium)"
if [ -n "${CANOPY_TEST_KUBECONFIG:-}" ]; then
    # A fresh control plane: the nodes simulated by the integration tests' processes are gone,
    # and pods bound to them would never start.
    "$REPO_ROOT/scripts/kube-testenv.sh" stop "$work/kube"
    start_kube "$work/kube-e2e"
    export CANOPY_TEST_KUBECONFIG="$work/kube-e2e/kubeconfig"
fi
e2e_db="canopy_e2e_$$"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $e2e_db"
export CANOPY_E2E_DATABASE_URL="${DATABASE_URL%/*}/$e2e_db"
export CANOPY_BIN="$CARGO_TARGET_DIR/debug/canopy"
export CANOPY_SITE_ROOT="$CARGO_TARGET_DIR/debug/site"
export CANOPY_NODE_SIM_BIN="$CARGO_TARGET_DIR/debug/canopy-node-sim"
export CANOPY_GITHUB_DOUBLE_BIN="$CARGO_TARGET_DIR/debug/canopy-github-double"
(cd end2end && npm ci --no-audit --no-fund --loglevel=error && npm test)
timed

step "All checks and tests passed in $((SECONDS - started)) s"
