#!/usr/bin/env bash
# `make run`: sets up whatever is missing, builds Canopy and starts it.
# Environment: CANOPY_LISTEN_ADDR (default 127.0.0.1:3000), DATABASE_URL (default: Canopy's own
# PostgreSQL under CANOPY_DATA_DIR, default .canopy/), CANOPY_PROFILE=release for an optimised build,
# CANOPY_KUBECONFIG (default: KUBECONFIG, ~/.kube/config, else Canopy's sandbox cluster under
# CANOPY_DATA_DIR/sandbox; CANOPY_SANDBOX=off for no cluster).
source "$(dirname "$0")/common.sh"

apt_install postgresql fonts-dejavu-core
if [ "${CANOPY_PROFILE:-debug}" = release ]; then
    "$REPO_ROOT/scripts/build.sh" --release
    bin="$CARGO_TARGET_DIR/release/canopy"
else
    "$REPO_ROOT/scripts/build.sh"
    bin="$CARGO_TARGET_DIR/debug/canopy"
fi

cd "$REPO_ROOT"
export CANOPY_DATA_DIR="${CANOPY_DATA_DIR:-$REPO_ROOT/.canopy}"

# No cluster given (the same checks as the server's, server/src/config.rs): Canopy starts its
# sandbox, a real local control plane with simulated nodes (docs/SANDBOX.md). Build it first.
if [ -z "${CANOPY_KUBECONFIG:-}" ] && [ -z "${KUBECONFIG:-}" ] && [ -z "${KUBERNETES_SERVICE_HOST:-}" ] &&
    [ ! -f "$HOME/.kube/config" ] && [ "${CANOPY_SANDBOX:-auto}" != off ]; then
    export CANOPY_KUBE_TESTENV="${CANOPY_KUBE_TESTENV:-$REPO_ROOT/scripts/kube-testenv.sh}"
    step "No Kubernetes cluster given: using Canopy's sandbox (set CANOPY_KUBECONFIG to use a real one)"
    info "the control plane is built once: the first build takes about 13 min on 2 cores (cached"
    info "in $CANOPY_CACHE_DIR/kube); after that this step returns at once and starts take seconds"
    "$CANOPY_KUBE_TESTENV" build
fi
step "Starting Canopy on http://${CANOPY_LISTEN_ADDR:-127.0.0.1:3000} (Ctrl-C stops it)"
exec "$bin"
