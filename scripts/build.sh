#!/usr/bin/env bash
# Builds Canopy: the wasm hydration bundle (client) and the `canopy` server binary.
#   scripts/build.sh [--release] [--bundle-only]
# Output: $CARGO_TARGET_DIR/<profile>/canopy and, beside it, site/ with
#   site/pkg/<hash>/{canopy.js, canopy_bg.wasm, canopy.css} (+ .gz) and site/manifest.json.
# Client and server are always built in the same mode (a debug server with a release bundle
# fails during hydration).
# A release bundle has no symbols (profile wasm-release), goes through `wasm-opt -Oz` (binaryen
# from the npm registry, cached) and must fit the size budget: the wasm and the JS a first page
# load fetches, gzipped, at most CANOPY_BUNDLE_BUDGET_KB kB for the heaviest page, or the build
# fails. The default, 456, is what the heaviest page (the service's Deploy tab) needed when the
# budget was set (447 kB; 449 kB now) plus 2 %: it stops growth. Issue 16's target is 400 kB
# gzipped; twelve of fourteen pages are under it (docs/PERFORMANCE.md), the Deploy and Pods tabs
# are not yet.
# --bundle-only stops after the browser bundle (make test checks the budget this way).
source "$(dirname "$0")/common.sh"

profile=debug; cargo_profile=(); wasm_profile=(); wasm_dir=debug; bundle_only=0
for arg in "$@"; do
    case "$arg" in
        --release) profile=release; cargo_profile=(--release); wasm_profile=(--profile wasm-release); wasm_dir=wasm-release ;;
        --bundle-only) bundle_only=1 ;;
        *) die "unknown option $arg (allowed: --release, --bundle-only)" ;;
    esac
done
budget_kb="${CANOPY_BUNDLE_BUDGET_KB:-456}"

eval "$("$REPO_ROOT/scripts/setup-wasm.sh")"

# The bundle is split at the lazy routes (app/src/routes.rs): the linker keeps the relocations
# the splitter needs. Views are type-erased as in every other build of the workspace
# (.cargo/config.toml): this variable replaces those flags for wasm32, so it repeats the cfg.
wasm_rustflags="-Clink-args=--emit-relocs --cfg=erase_components"
wasm_env=()
if [ "$profile" = release ]; then
    # Panics in a release bundle keep their message but not the file and line of the code that
    # panicked: the paths were about 3 % of the gzipped bundle. The flag is unstable, so the
    # compiler is told to accept it (the toolchain is pinned: rust-toolchain.toml, or Debian's).
    wasm_rustflags+=" -Zlocation-detail=none"
    wasm_env=(RUSTC_BOOTSTRAP=1)
fi

step "Building the browser bundle (wasm32, $profile)"
cd "$REPO_ROOT"
if [ "$WASM_ROUTE" = rustup ]; then
    wasm_target_dir="$CARGO_TARGET_DIR"
    env "${wasm_env[@]}" CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$wasm_rustflags" \
        cargo build -p canopy-frontend --lib --target wasm32-unknown-unknown "${wasm_profile[@]}"
else
    # Debian's compiler with the private wasm32 sysroot; its own target dir keeps the two
    # compilers' artifacts apart (see docs/BUILDING.md).
    wasm_target_dir="$CARGO_TARGET_DIR/front"
    env -u RUSTFLAGS "${wasm_env[@]}" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--sysroot=$WASM_SYSROOT $wasm_rustflags" \
        /usr/bin/cargo build -p canopy-frontend --lib --target wasm32-unknown-unknown \
        --target-dir "$wasm_target_dir" "${wasm_profile[@]}"
fi
wasm="$wasm_target_dir/wasm32-unknown-unknown/$wasm_dir/canopy_frontend.wasm"
[ -f "$wasm" ] || die "the wasm build did not produce $wasm"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
# Split at the lazy routes (what cargo-leptos --split does): the main module, one module per
# route's view, the chunks they share, the loader and the manifest HydrationScripts reads.
cargo build -q -p canopy-wasm-split
"$CARGO_TARGET_DIR/debug/canopy-wasm-split" "$wasm" "$stage" "$stage/canopy_split.wasm" >/dev/null
"$WASM_BINDGEN" --target web --out-name canopy --no-typescript --keep-lld-exports --no-demangle \
    --out-dir "$stage" "$stage/canopy_split.wasm"
rm "$stage/canopy_split.wasm"
if [ "$profile" = release ]; then
    binaryen="$("$REPO_ROOT/scripts/setup-wasm-opt.sh")"
    optimized="$(node "$REPO_ROOT/scripts/wasm-opt-all.mjs" "$binaryen" "$stage"/*.wasm)" \
        || die "wasm-opt failed"
    info "$optimized"
fi
cp "$REPO_ROOT/style/main.css" "$stage/canopy.css"
cp "$REPO_ROOT/style/favicon.svg" "$stage/favicon.svg"
mapfile -t assets < <(cd "$stage" && ls -1 | LC_ALL=C sort)
hash="$(cd "$stage" && cat "${assets[@]}" | sha256sum | cut -c1-20)"

site="$CARGO_TARGET_DIR/$profile/site"
mkdir -p "$site/pkg"
if [ ! -d "$site/pkg/$hash" ]; then
    mkdir -p "$site/pkg/$hash.tmp"
    (cd "$stage" && cp "${assets[@]}" "$site/pkg/$hash.tmp/")
    if [ "$profile" = release ]; then
        # What browsers download: gzip made with zopfli (the same format, about 4 % smaller
        # than gzip -9) and brotli (about 20 % smaller; browsers ask for it over HTTPS), both
        # served precompressed (server/src/http/router.rs).
        apt_install zopfli brotli
        printf '%s\0' "$site/pkg/$hash.tmp"/* | xargs -0 -n 8 -P "$(nproc)" zopfli
        printf '%s\0' "$site/pkg/$hash.tmp"/* | grep -zv '\.gz$' \
            | xargs -0 -n 8 -P "$(nproc)" brotli -q 11 -k
    else
        gzip -9 -k "$site/pkg/$hash.tmp"/*
    fi
    mv "$site/pkg/$hash.tmp" "$site/pkg/$hash"
fi
printf '{"pkg_dir":"pkg/%s"}\n' "$hash" > "$site/manifest.json.tmp"
mv "$site/manifest.json.tmp" "$site/manifest.json"
# Keep the previous bundle (pages already open may still load it); drop older ones.
{ ls -1t "$site/pkg" | grep -v "^$hash\$" || true; } | tail -n +2 | while read -r old; do rm -rf "${site:?}/pkg/$old"; done

# What a first visit downloads: the JS glue, the split loader, the main module and the modules
# of the heaviest route (its view and the chunks it needs), gzipped.
first_load="$(python3 "$REPO_ROOT/scripts/bundle-size.py" "$site/pkg/$hash")"
info "$first_load"
first_load_kb="$(printf '%s\n' "$first_load" | sed -n 's/^first page load: \([0-9]*\) kB.*/\1/p')"
if [ "$profile" = release ] && [ "$first_load_kb" -gt "$budget_kb" ]; then
    die "the release bundle needs $first_load_kb kB gzipped on a first page load, over the budget of $budget_kb kB (CANOPY_BUNDLE_BUDGET_KB; docs/BUILDING.md): find what grew before raising it"
fi
[ "$bundle_only" = 1 ] && exit 0

step "Building the server ($profile)"
cargo build -p canopy-server --bin canopy "${cargo_profile[@]}"
info "server: $CARGO_TARGET_DIR/$profile/canopy"
