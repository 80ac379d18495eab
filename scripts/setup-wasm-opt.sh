#!/usr/bin/env bash
# Installs binaryen from the npm registry once (cached outside the clone) and prints the folder
# of its JavaScript module (scripts/wasm-opt-all.mjs runs its optimizer, as `wasm-opt -Oz`). Debian's binaryen (108) is too old
# for the wasm Rust emits today: its output failed in the browser (docs/BUILDING.md).
source "$(dirname "$0")/common.sh"

version=132.0.0
tools="$CANOPY_CACHE_DIR/tools/binaryen-$version"
entry="$tools/node_modules/binaryen/index.js"
if [ ! -f "$entry" ]; then
    command -v npm >/dev/null || apt_install npm
    step "Installing binaryen $version (wasm-opt) from the npm registry, once"
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "binaryen@$version" >&2
fi
[ -f "$entry" ] || die "binaryen's wasm-opt is missing at $entry"
dirname "$entry"
