#!/usr/bin/env bash
# Benchmark: time from a pod turning Ready in the Kubernetes API to the service page showing it
# (end2end/bench/pod-ready.mjs). Starts a throwaway PostgreSQL and control plane, builds what is
# missing, prints the figures. `--release` benchmarks an optimised build. BENCH_ROUNDS (15).
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
profile=debug; build_args=()
if [ "${1:-}" = "--release" ]; then profile=release; build_args=(--release); fi

apt_install postgresql chromium
work="$(mktemp -d /tmp/canopy-bench-XXXXXX)"
chmod 755 "$work"
cleanup() {
    "$REPO_ROOT/scripts/test-postgres.sh" stop "$work/pg" || true
    "$REPO_ROOT/scripts/kube-testenv.sh" stop "$work/kube" || true
    rm -rf "$work"
}
trap cleanup EXIT

step "Building ($profile)"
"$REPO_ROOT/scripts/build.sh" "${build_args[@]}"
cargo build "${build_args[@]}" -p canopy-sandbox --bin canopy-node-sim
export "$("$REPO_ROOT/scripts/test-postgres.sh" start "$work/pg")"
"$REPO_ROOT/scripts/kube-testenv.sh" build
"$REPO_ROOT/scripts/kube-testenv.sh" start "$work/kube" >/dev/null
db="canopy_bench_$$"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $db"
export CANOPY_E2E_DATABASE_URL="${DATABASE_URL%/*}/$db"
export CANOPY_TEST_KUBECONFIG="$work/kube/kubeconfig"
export CANOPY_BIN="$CARGO_TARGET_DIR/$profile/canopy"
export CANOPY_SITE_ROOT="$CARGO_TARGET_DIR/$profile/site"
export CANOPY_NODE_SIM_BIN="$CARGO_TARGET_DIR/$profile/canopy-node-sim"
(cd end2end && npm ci --no-audit --no-fund --loglevel=error >/dev/null && node bench/pod-ready.mjs)
