#!/usr/bin/env bash
# `make run`: sets up whatever is missing, builds Canopy and starts it.
# Environment: CANOPY_LISTEN_ADDR (default 127.0.0.1:3000), DATABASE_URL (default: Canopy's own
# PostgreSQL under CANOPY_DATA_DIR, default .canopy/), CANOPY_PROFILE=release for an optimised build.
source "$(dirname "$0")/common.sh"

apt_install postgresql
if [ "${CANOPY_PROFILE:-debug}" = release ]; then
    "$REPO_ROOT/scripts/build.sh" --release
    bin="$CARGO_TARGET_DIR/release/canopy"
else
    "$REPO_ROOT/scripts/build.sh"
    bin="$CARGO_TARGET_DIR/debug/canopy"
fi

cd "$REPO_ROOT"
export CANOPY_DATA_DIR="${CANOPY_DATA_DIR:-$REPO_ROOT/.canopy}"
step "Starting Canopy on http://${CANOPY_LISTEN_ADDR:-127.0.0.1:3000} (Ctrl-C stops it)"
exec "$bin"
