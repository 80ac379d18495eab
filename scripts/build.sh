#!/usr/bin/env bash
# Builds Canopy: the wasm hydration bundle (client) and the `canopy` server binary.
#   scripts/build.sh [--release]
# Output: $CARGO_TARGET_DIR/<profile>/canopy and, beside it, site/ with
#   site/pkg/<hash>/{canopy.js, canopy_bg.wasm, canopy.css} (+ .gz) and site/manifest.json.
# Client and server are always built in the same mode (a debug server with a release bundle
# fails during hydration).
source "$(dirname "$0")/common.sh"

profile=debug; cargo_profile=(); wasm_profile=(); wasm_dir=debug
if [ "${1:-}" = "--release" ]; then
    profile=release; cargo_profile=(--release); wasm_profile=(--profile wasm-release); wasm_dir=wasm-release
fi

eval "$("$REPO_ROOT/scripts/setup-wasm.sh")"

step "Building the browser bundle (wasm32, $profile)"
cd "$REPO_ROOT"
if [ "$WASM_ROUTE" = rustup ]; then
    wasm_target_dir="$CARGO_TARGET_DIR"
    cargo build -p canopy-frontend --lib --target wasm32-unknown-unknown "${wasm_profile[@]}"
else
    # Debian's compiler with the private wasm32 sysroot; its own target dir keeps the two
    # compilers' artifacts apart (see docs/BUILDING.md).
    wasm_target_dir="$CARGO_TARGET_DIR/front"
    env -u RUSTFLAGS RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--sysroot=$WASM_SYSROOT" \
        /usr/bin/cargo build -p canopy-frontend --lib --target wasm32-unknown-unknown \
        --target-dir "$wasm_target_dir" "${wasm_profile[@]}"
fi
wasm="$wasm_target_dir/wasm32-unknown-unknown/$wasm_dir/canopy_frontend.wasm"
[ -f "$wasm" ] || die "the wasm build did not produce $wasm"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
"$WASM_BINDGEN" --target web --out-name canopy --no-typescript --out-dir "$stage" "$wasm"
cp "$REPO_ROOT/style/main.css" "$stage/canopy.css"
cp "$REPO_ROOT/style/favicon.svg" "$stage/favicon.svg"
assets=(canopy.js canopy_bg.wasm canopy.css favicon.svg)
hash="$(cd "$stage" && cat "${assets[@]}" | sha256sum | cut -c1-20)"

site="$CARGO_TARGET_DIR/$profile/site"
mkdir -p "$site/pkg"
if [ ! -d "$site/pkg/$hash" ]; then
    mkdir -p "$site/pkg/$hash.tmp"
    (cd "$stage" && cp "${assets[@]}" "$site/pkg/$hash.tmp/")
    gzip -9 -k "$site/pkg/$hash.tmp"/*
    mv "$site/pkg/$hash.tmp" "$site/pkg/$hash"
fi
printf '{"pkg_dir":"pkg/%s"}\n' "$hash" > "$site/manifest.json.tmp"
mv "$site/manifest.json.tmp" "$site/manifest.json"
# Keep the previous bundle (pages already open may still load it); drop older ones.
{ ls -1t "$site/pkg" | grep -v "^$hash\$" || true; } | tail -n +2 | while read -r old; do rm -rf "${site:?}/pkg/$old"; done
info "bundle: $site/pkg/$hash ($(du -h "$site/pkg/$hash/canopy_bg.wasm" | cut -f1) wasm)"

step "Building the server ($profile)"
cargo build -p canopy-server --bin canopy "${cargo_profile[@]}"
info "server: $CARGO_TARGET_DIR/$profile/canopy"
