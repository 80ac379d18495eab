#!/usr/bin/env bash
# Prepares what the Leptos hydration (wasm32) build needs and prints the variables the build uses.
#
# Two routes, detected:
#  - "rustup": the rustup toolchain has (or can add) the wasm32-unknown-unknown target;
#  - "debian": offline machines where rustup cannot download targets. Debian's rustc-web ships the
#    standard-library sources, from which a private wasm32 sysroot is built once and cached
#    (see docs/BUILDING.md).
# Either way wasm-bindgen-cli is installed at exactly the version in Cargo.lock, cached outside the clone.
# Output (stdout): shell assignments to eval.
source "$(dirname "$0")/common.sh"

route="${CANOPY_WASM_ROUTE:-}"
if [ -z "$route" ]; then
    if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        route=rustup
    elif timeout 60 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
        route=rustup
    else
        route=debian
    fi
fi
case "$route" in rustup|debian) ;; *) die "CANOPY_WASM_ROUTE must be rustup or debian, not $route" ;; esac

if [ "$route" = debian ]; then
    apt_install rustc-web cargo-web rust-web-src rust-web-llvm lld-22
    commit="$(/usr/bin/rustc -vV | awk '/^commit-hash/ {print $2}')"
    release="$(/usr/bin/rustc -vV | awk '/^release/ {print $2}')"
    sysroot="$CANOPY_CACHE_DIR/wasm-sysroot-$commit"
    libdir="$sysroot/lib/rustlib/wasm32-unknown-unknown/lib"
    if [ ! -f "$sysroot/.complete" ]; then
        [ -d "/usr/src/rustc-$release/library" ] || die "rust-web-src does not match /usr/bin/rustc $release"
        step "Building the wasm32 standard library once from Debian's rustc $release sources (1-2 minutes)"
        work="$(mktemp -d)"
        (
            cd "$work"
            env -u RUSTFLAGS RUSTC=/usr/bin/rustc /usr/bin/cargo new --lib --name sysroot_seed seed -q
            cd seed
            env -u RUSTFLAGS -u CARGO_TARGET_DIR RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
                /usr/bin/cargo build --release --target wasm32-unknown-unknown --target-dir "$work/target" \
                -Zbuild-std=std,panic_abort,panic_unwind,proc_macro,test >&2
        )
        rm -rf "$sysroot"
        mkdir -p "$libdir" "$sysroot/lib/rustlib"
        find "$work/target/wasm32-unknown-unknown/release/deps" -name '*.rlib' ! -name 'libsysroot_seed*' -exec cp {} "$libdir/" \;
        ln -s /usr/lib/rustlib/x86_64-unknown-linux-gnu "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu"
        rm -rf "$work"
        touch "$sysroot/.complete"
    fi
fi

wbg_version="$(locked_version wasm-bindgen)"
[ -n "$wbg_version" ] || die "wasm-bindgen not found in Cargo.lock"
tools="$CANOPY_CACHE_DIR/tools/wasm-bindgen-$wbg_version"
if [ ! -x "$tools/bin/wasm-bindgen" ]; then
    step "Installing wasm-bindgen-cli $wbg_version (once, about 6 minutes on 2 cores)"
    cargo install wasm-bindgen-cli --version "=$wbg_version" --root "$tools" >&2
fi

echo "WASM_ROUTE=$route"
echo "WASM_BINDGEN=$tools/bin/wasm-bindgen"
if [ "$route" = debian ]; then
    echo "WASM_SYSROOT=$sysroot"
fi
