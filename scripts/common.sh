# shellcheck shell=bash
# Shared settings for Canopy's setup and build scripts: where caches live, and logging helpers.
# Sourced, not run. Everything built here is cached OUTSIDE the repository.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
CANOPY_CACHE_DIR="${CANOPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/canopy}"
export CANOPY_CACHE_DIR
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CANOPY_CACHE_DIR/target}"
mkdir -p "$CANOPY_CACHE_DIR"

step() { printf '\033[1;34m==> %s\033[0m\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs apt-get install for the packages that are not installed yet (idempotent, quiet when nothing to do).
apt_install() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get: install them by hand"
    local sudo=""
    is_root || sudo="sudo"
    step "Installing Debian packages: ${missing[*]}"
    local stamp="$CANOPY_CACHE_DIR/.apt-updated"
    if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
        $sudo apt-get update -q >&2
        touch "$stamp"
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >&2
}

# The version of a crate as resolved in Cargo.lock.
locked_version() {
    awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$REPO_ROOT/Cargo.lock"
}
