#!/usr/bin/env bash
# Runs a command against a fresh local control plane, then stops it whatever the outcome:
# builds the control plane once (scripts/kube-testenv.sh build), starts it in a temporary
# folder, exports CANOPY_TEST_KUBECONFIG (and KUBECONFIG) pointing at it, runs the command,
# stops the control plane and removes the folder.
#
# Usage:
#   scripts/sandbox-test-env.sh                      runs: cargo test -p canopy-sandbox
#   scripts/sandbox-test-env.sh cargo test -p canopy-server --test deploy
#
# Environment:
#   CANOPY_TEST_KUBE_DIR   use this folder instead of a temporary one (kept afterwards)
#   CANOPY_CACHE_DIR       where the control plane binaries are cached (see scripts/common.sh)

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KUBE_TESTENV="$REPO_ROOT/scripts/kube-testenv.sh"

"$KUBE_TESTENV" build

if [ -n "${CANOPY_TEST_KUBE_DIR:-}" ]; then
    dir="$CANOPY_TEST_KUBE_DIR"
    keep_dir=1
else
    dir="$(mktemp -d "${TMPDIR:-/tmp}/canopy-kube-test.XXXXXX")"
    keep_dir=0
fi

cleanup() {
    local status=$?
    "$KUBE_TESTENV" stop "$dir" || status=1
    [ "$keep_dir" = 1 ] || rm -rf "$dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kubeconfig="$("$KUBE_TESTENV" start "$dir")"
export CANOPY_TEST_KUBECONFIG="$kubeconfig"
export KUBECONFIG="$kubeconfig"

if [ $# -eq 0 ]; then
    set -- cargo test -p canopy-sandbox
fi
step "Running against the local control plane: $*"
"$@"
