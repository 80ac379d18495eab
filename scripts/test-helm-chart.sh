#!/usr/bin/env bash
# Tests the Helm chart deploy/helm/canopy (a step of `make test`; runs alone too): lint and render
# with the default values and with ci/full-values.yaml, bad values refused naming the field, the
# portal's and agent's objects checked against Canopy's hardening rules, and every rendered
# object applied to a real Kubernetes API server with a server-side dry run.
#
# Helm is Helm v4's Go SDK as a shared library, from the PyPI package helm-python-sdk (no helm
# binary needed), installed once into a venv under $CANOPY_CACHE_DIR/helm-venv.
#
# Usage: scripts/test-helm-chart.sh [KUBECONFIG]
#   KUBECONFIG defaults to $CANOPY_TEST_KUBECONFIG; without either, a control plane of its own
#   is started (scripts/kube-testenv.sh) and stopped afterwards.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
started=$SECONDS

# Pinned; a change here reinstalls the venv.
REQUIREMENTS="helm-python-sdk==0.2.2 PyYAML==6.0.4"
venv="$CANOPY_CACHE_DIR/helm-venv"
if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$REQUIREMENTS" ]; then
    step "Installing Helm (helm-python-sdk) into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
    # shellcheck disable=SC2086 # one word per requirement
    "$venv/bin/pip" install --quiet --disable-pip-version-check $REQUIREMENTS >&2
    echo "$REQUIREMENTS" >"$venv/.requirements"
fi

kubeconfig="${1:-${CANOPY_TEST_KUBECONFIG:-}}"
own=""
if [ -z "$kubeconfig" ]; then
    "$REPO_ROOT/scripts/kube-testenv.sh" build
    own="$(mktemp -d /tmp/canopy-helm-kube-XXXXXX)"
    trap '"$REPO_ROOT/scripts/kube-testenv.sh" stop "$own" >/dev/null || true; rm -rf "$own"' EXIT
    kubeconfig="$("$REPO_ROOT/scripts/kube-testenv.sh" start "$own")"
fi

"$venv/bin/python" "$REPO_ROOT/scripts/helm-chart-test.py" \
    --chart "$REPO_ROOT/deploy/helm/canopy" --kubeconfig "$kubeconfig"
info "chart test done in $((SECONDS - started)) s"
