#!/usr/bin/env bash
# A real local Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager +
# kube-scheduler v1.20.2) built from Debian's packages and run on loopback only.
# See docs/SANDBOX.md and ../shared/notes/kube-testenv.md for why and how.
#
# Usage:
#   scripts/kube-testenv.sh build        build once into $CANOPY_CACHE_DIR/kube/v1.20.2/bin
#   scripts/kube-testenv.sh start DIR    start the control plane with its state in DIR;
#                                        writes DIR/kubeconfig (idempotent)
#   scripts/kube-testenv.sh stop DIR     stop what `start DIR` started (by recorded PID)
#   scripts/kube-testenv.sh status DIR   exit 0 when all four processes are running
#
# Environment:
#   CANOPY_CACHE_DIR          cache root (default ~/.cache/canopy)
#   CANOPY_KUBE_READY_SECS    how long `start` waits for /readyz (default 60)
#   CANOPY_KUBE_NICE          niceness of the build (default 10)

set -euo pipefail

KUBE_VERSION="1.20.2"
# Debian bookworm's source package: the last one that still ships the whole tree.
# (Its Debian revision moves with security updates, hence the prefix match.)
KUBE_DEB_SRC_VERSION="1.20.5+really1.20.2"
GO_PKG="golang-1.19"
DEBIAN_SUITE="bookworm"

CACHE_ROOT="${CANOPY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/canopy}"
KUBE_HOME="$CACHE_ROOT/kube/v$KUBE_VERSION"
KUBE_BIN="$KUBE_HOME/bin"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler)

usage() {
    sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------

# Runs one build stage unless its marker exists, so an interrupted build resumes where it stopped.
stage() {
    local name="$1"
    shift
    local marker="$WORK/.stage-$name"
    [ -f "$marker" ] && return 0
    "$@"
    touch "$marker"
}

# apt-get with a private sources list, lists and cache: the system's apt state is never touched.
private_apt() {
    apt-get -q \
        -o Dir::Etc::SourceList="$WORK/apt/sources.list" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$WORK/apt/lists" \
        -o Dir::Cache="$WORK/apt/cache" \
        -o Debug::NoLocking=1 \
        "$@"
}

# The machine's own Debian mirror (first URI of its Debian entry), or deb.debian.org.
debian_mirror() {
    local uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri="$(awk '/^URIs:/ && $2 ~ /debian\/?$/ && $2 !~ /security/ { print $2; exit }' \
            /etc/apt/sources.list.d/debian.sources)"
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri="$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
            /etc/apt/sources.list)"
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

stage_apt_update() {
    local mirror keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    mirror="$(debian_mirror)"
    mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial"
    {
        echo "deb [signed-by=$keyring] $mirror $DEBIAN_SUITE main"
        echo "deb-src [signed-by=$keyring] $mirror $DEBIAN_SUITE main"
    } >"$WORK/apt/sources.list"
    step "Fetching Debian $DEBIAN_SUITE package lists from $mirror (private apt state, ~30 s)"
    private_apt update >"$WORK/apt-update.log" 2>&1 ||
        { tail -20 "$WORK/apt-update.log" >&2; die "apt-get update failed (log: $WORK/apt-update.log)"; }
}

stage_download() {
    step "Downloading kubernetes $KUBE_DEB_SRC_VERSION source, Go 1.19 and etcd (~250 MB, 1-2 min)"
    mkdir -p "$WORK/downloads"
    (
        cd "$WORK/downloads" &&
            private_apt source --download-only kubernetes &&
            private_apt download "$GO_PKG-go" "$GO_PKG-src" etcd-server golang-github-modern-go-reflect2-dev
    ) >"$WORK/download.log" 2>&1 ||
        { tail -20 "$WORK/download.log" >&2; die "download failed (log: $WORK/download.log)"; }
    ls "$WORK/downloads/kubernetes_$KUBE_DEB_SRC_VERSION"-*.dsc >/dev/null 2>&1 ||
        die "Debian $DEBIAN_SUITE no longer has kubernetes $KUBE_DEB_SRC_VERSION (found: $(ls "$WORK"/downloads/*.dsc))"
}

stage_unpack() {
    step "Unpacking sources and toolchain"
    rm -rf "$WORK/prefix" "$WORK/gopath"
    mkdir -p "$WORK/prefix" "$WORK/gopath/src/k8s.io"
    local deb
    for deb in "$WORK"/downloads/*.deb; do
        dpkg -x "$deb" "$WORK/prefix"
    done
    local dsc
    dsc="$(ls "$WORK"/downloads/kubernetes_"$KUBE_DEB_SRC_VERSION"-*.dsc | tail -1)"
    dpkg-source --no-check -x "$dsc" "$WORK/gopath/src/k8s.io/kubernetes" >"$WORK/unpack.log" 2>&1 ||
        { tail -20 "$WORK/unpack.log" >&2; die "dpkg-source failed (log: $WORK/unpack.log)"; }
    # The vendored reflect2 1.0.1 makes the apiserver panic on the first PATCH under Go 1.19.
    local reflect2_new="$WORK/prefix/usr/share/gocode/src/github.com/modern-go/reflect2"
    local reflect2_old="$WORK/gopath/src/k8s.io/kubernetes/vendor/github.com/modern-go/reflect2"
    [ -d "$reflect2_new" ] || die "reflect2 sources not found in $reflect2_new"
    [ -d "$reflect2_old" ] || die "vendored reflect2 not found in $reflect2_old"
    rm -rf "$reflect2_old"
    cp -rL "$reflect2_new" "$reflect2_old"
    info "replaced vendor/github.com/modern-go/reflect2 with $(basename "$(ls "$WORK"/downloads/golang-github-modern-go-reflect2-dev_*.deb)")"
}

go_env() {
    export GOROOT="$WORK/prefix/usr/lib/go-1.19"
    export PATH="$GOROOT/bin:$PATH"
    export GOPATH="$WORK/gopath"
    export GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS=""
    export GOCACHE="$WORK/gocache"
    export HOME="$WORK/home"
    mkdir -p "$GOCACHE" "$HOME"
    [ -x "$GOROOT/bin/go" ] || die "Go not found at $GOROOT/bin/go"
}

stage_generated() {
    step "Generating Kubernetes sources (make generated_files, ~3 min)"
    local started=$SECONDS
    (
        go_env &&
            cd "$GOPATH/src/k8s.io/kubernetes" &&
            nice -n "$NICE" make generated_files
    ) >"$WORK/generated.log" 2>&1 ||
        { tail -30 "$WORK/generated.log" >&2; die "make generated_files failed (log: $WORK/generated.log)"; }
    info "done in $((SECONDS - started)) s"
}

# Stamps the version the way Kubernetes' own build does, so /version and --version tell v1.20.2.
version_ldflags() {
    local flags="-s -w" pkg var
    for pkg in client-go/pkg/version component-base/version; do
        pkg="k8s.io/kubernetes/vendor/k8s.io/$pkg"
        for var in "gitVersion=v$KUBE_VERSION" "gitMajor=${KUBE_VERSION%%.*}" \
            "gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)" "gitTreeState=clean" \
            "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
            flags+=" -X $pkg.$var"
        done
    done
    echo "$flags"
}

build_binary() {
    local name="$1" estimate="$2"
    [ -x "$WORK/out/$name" ] && return 0
    step "Building $name ($estimate on 2 cores)"
    local started=$SECONDS
    mkdir -p "$WORK/out"
    (
        go_env &&
            cd "$GOPATH/src/k8s.io/kubernetes" &&
            nice -n "$NICE" go build -ldflags "$(version_ldflags)" -o "$WORK/out/$name.tmp" "./cmd/$name"
    ) >"$WORK/build-$name.log" 2>&1 ||
        { tail -30 "$WORK/build-$name.log" >&2; die "building $name failed (log: $WORK/build-$name.log)"; }
    mv "$WORK/out/$name.tmp" "$WORK/out/$name"
    info "done in $((SECONDS - started)) s"
}

cmd_build() {
    if [ -f "$KUBE_HOME/.complete" ]; then
        return 0
    fi
    # shellcheck source=scripts/common.sh
    source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
    NICE="${CANOPY_KUBE_NICE:-10}"
    WORK="$KUBE_HOME/work"
    mkdir -p "$WORK" "$KUBE_BIN"
    local started=$SECONDS
    step "Building the local Kubernetes control plane v$KUBE_VERSION (first time only, ~15-20 min)"
    info "cache: $KUBE_HOME"
    apt_install rsync openssl dpkg-dev make xz-utils ca-certificates
    stage apt-update stage_apt_update
    stage download stage_download
    stage unpack stage_unpack
    stage generated stage_generated
    build_binary kube-apiserver "~12 min"
    build_binary kube-controller-manager "~2 min"
    build_binary kube-scheduler "~1 min"
    local name
    for name in kube-apiserver kube-controller-manager kube-scheduler; do
        install -m 0755 "$WORK/out/$name" "$KUBE_BIN/$name"
    done
    install -m 0755 "$WORK/prefix/usr/bin/etcd" "$KUBE_BIN/etcd"
    "$KUBE_BIN/kube-apiserver" --version >&2
    # sed reads every line (head would close the pipe early: SIGPIPE under pipefail)
    "$KUBE_BIN/etcd" --version | sed -n 1p >&2
    touch "$KUBE_HOME/.complete"
    step "Control plane built in $(((SECONDS - started) / 60)) min $(((SECONDS - started) % 60)) s: $KUBE_BIN"
    info "the build tree ($WORK) can be deleted to save ~3 GB: rm -rf '$WORK'"
}

# ---------------------------------------------------------------------------------------------
# start / stop / status
# ---------------------------------------------------------------------------------------------

# Messages for start/stop without sourcing common.sh (which creates cache folders).
say() { printf '\033[1;34m==> %s\033[0m\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
fail() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# The PID recorded for a component, if that process is still alive and is that component.
live_pid() {
    local dir="$1" name="$2" pid
    [ -f "$dir/$name.pid" ] || return 1
    pid="$(cat "$dir/$name.pid")"
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    # Guard against a recycled PID: the process must run our binary.
    local exe
    exe="$(tr '\0' '\n' <"/proc/$pid/cmdline" | sed -n 1p)"
    [ "$(basename "$exe")" = "$name" ] || return 1
    echo "$pid"
}

all_running() {
    local dir="$1" name
    for name in "${BINARIES[@]}"; do
        live_pid "$dir" "$name" >/dev/null || return 1
    done
}

port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints one free loopback port in 20000-32767, not among the ones already taken ($@). The range
# stays below Linux's ephemeral ports (32768-60999): a port that an outgoing connection uses
# as its local port looks free here (nothing listens on it) but cannot be bound, which made the
# API server fail to start now and then.
free_port() {
    local port tries=0 taken
    while [ $tries -lt 200 ]; do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
        tries=$((tries + 1))
        for taken in "$@"; do [ "$taken" = "$port" ] && continue 2; done
        port_is_free "$port" && { echo "$port"; return 0; }
    done
    fail "no free loopback port found"
}

api_get() {
    local dir="$1" path="$2"
    curl -sk --max-time 3 -H "Authorization: Bearer $(cat "$dir/token")" \
        "https://127.0.0.1:$(cat "$dir/api.port")$path"
}

log_tails() {
    local dir="$1" name
    for name in "${BINARIES[@]}"; do
        [ -f "$dir/$name.log" ] || continue
        printf '\n--- last lines of %s ---\n' "$dir/$name.log" >&2
        tail -15 "$dir/$name.log" >&2
    done
}

# Starts one component in its own session, logs to DIR/NAME.log, records DIR/NAME.pid.
launch() {
    local dir="$1" name="$2"
    shift 2
    setsid "$KUBE_BIN/$name" "$@" >>"$dir/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/$name.pid"
}

# Waits up to $3 seconds for $2 (a command) to succeed; fails with the logs if it does not.
wait_for() {
    local dir="$1" what="$2" secs="$3"
    shift 3
    local deadline=$((SECONDS + secs))
    until "$@"; do
        local name
        for name in "${BINARIES[@]}"; do
            if [ -f "$dir/$name.pid" ] && ! live_pid "$dir" "$name" >/dev/null; then
                log_tails "$dir"
                cmd_stop "$dir" >/dev/null 2>&1 || true
                fail "$name exited while waiting for $what (logs above, in $dir)"
            fi
        done
        if [ $SECONDS -ge $deadline ]; then
            log_tails "$dir"
            cmd_stop "$dir" >/dev/null 2>&1 || true
            fail "timed out after ${secs} s waiting for $what (logs above, in $dir)"
        fi
        sleep 0.3
    done
}

apiserver_ready() { [ "$(api_get "$1" /readyz)" = "ok" ]; }
etcd_healthy() { curl -s --max-time 2 "http://127.0.0.1:$(cat "$1/etcd.port")/health" | grep -q '"health":"true"'; }

write_credentials() {
    local dir="$1"
    [ -f "$dir/token" ] || openssl rand -hex 24 >"$dir/token"
    echo "$(cat "$dir/token"),admin,admin,system:masters" >"$dir/tokens.csv"
    if [ ! -f "$dir/sa.key" ] || [ ! -f "$dir/sa.pub" ]; then
        openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
        openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
    fi
    chmod 600 "$dir/token" "$dir/tokens.csv" "$dir/sa.key"
}

write_kubeconfig() {
    local dir="$1"
    cat >"$dir/kubeconfig.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: canopy-sandbox
  cluster:
    server: https://127.0.0.1:$(cat "$dir/api.port")
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $(cat "$dir/token")
contexts:
- name: canopy-sandbox
  context:
    cluster: canopy-sandbox
    user: admin
    namespace: default
current-context: canopy-sandbox
KUBECONFIG
    chmod 600 "$dir/kubeconfig.tmp"
    mv "$dir/kubeconfig.tmp" "$dir/kubeconfig"
}

# Picks the ports: the recorded ones when all are still free (so etcd's data stays valid),
# else new ones and a fresh etcd data folder.
choose_ports() {
    local dir="$1" name
    if [ -f "$dir/api.port" ] && [ -f "$dir/etcd.port" ] && [ -f "$dir/etcd-peer.port" ] &&
        port_is_free "$(cat "$dir/api.port")" && port_is_free "$(cat "$dir/etcd.port")" &&
        port_is_free "$(cat "$dir/etcd-peer.port")"; then
        return 0
    fi
    local etcd peer api
    etcd="$(free_port)"
    peer="$(free_port "$etcd")"
    api="$(free_port "$etcd" "$peer")"
    echo "$etcd" >"$dir/etcd.port"
    echo "$peer" >"$dir/etcd-peer.port"
    echo "$api" >"$dir/api.port"
    rm -rf "$dir/etcd-data"
    for name in "${BINARIES[@]}"; do rm -f "$dir/$name.log"; done
}

cmd_start() {
    [ $# -eq 1 ] || usage
    local dir
    mkdir -p "$1"
    dir="$(cd "$1" && pwd)"
    [ -f "$KUBE_HOME/.complete" ] ||
        fail "the control plane is not built yet: run scripts/kube-testenv.sh build (once, ~15-20 min)"
    command -v curl >/dev/null || fail "curl is needed: apt-get install curl"
    command -v openssl >/dev/null || fail "openssl is needed: apt-get install openssl"

    if all_running "$dir" && apiserver_ready "$dir"; then
        note "already running in $dir (API https://127.0.0.1:$(cat "$dir/api.port"))"
        echo "$dir/kubeconfig"
        return 0
    fi
    # Half-running (a crash, a killed test run): clean up before starting again.
    cmd_stop "$dir" >/dev/null 2>&1 || true

    local ready_secs="${CANOPY_KUBE_READY_SECS:-60}" started=$SECONDS
    say "Starting the local Kubernetes control plane v$KUBE_VERSION in $dir"
    write_credentials "$dir"
    choose_ports "$dir"
    local etcd_port peer_port api_port
    etcd_port="$(cat "$dir/etcd.port")"
    peer_port="$(cat "$dir/etcd-peer.port")"
    api_port="$(cat "$dir/api.port")"

    launch "$dir" etcd \
        --name default \
        --data-dir "$dir/etcd-data" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" \
        --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "default=http://127.0.0.1:$peer_port" \
        --log-level warn
    wait_for "$dir" "etcd" 20 etcd_healthy "$dir"

    mkdir -p "$dir/certs"
    launch "$dir" kube-apiserver \
        --etcd-servers "http://127.0.0.1:$etcd_port" \
        --bind-address 127.0.0.1 \
        --advertise-address 127.0.0.1 \
        --secure-port "$api_port" \
        --insecure-port 0 \
        --cert-dir "$dir/certs" \
        --token-auth-file "$dir/tokens.csv" \
        --authorization-mode AlwaysAllow \
        --service-cluster-ip-range 10.96.0.0/24 \
        --service-account-issuer https://kubernetes.default.svc \
        --service-account-key-file "$dir/sa.pub" \
        --service-account-signing-key-file "$dir/sa.key" \
        --enable-admission-plugins NamespaceLifecycle \
        --disable-admission-plugins ServiceAccount \
        --endpoint-reconciler-type none \
        --allow-privileged=true \
        --v 1
    write_kubeconfig "$dir"
    wait_for "$dir" "kube-apiserver /readyz" "$ready_secs" apiserver_ready "$dir"

    launch "$dir" kube-controller-manager \
        --kubeconfig "$dir/kubeconfig" \
        --bind-address 127.0.0.1 \
        --secure-port 0 \
        --port 0 \
        --use-service-account-credentials=false \
        --controllers '*,-serviceaccount-token' \
        --leader-elect=false \
        --node-monitor-period 2s \
        --node-monitor-grace-period 16s \
        --v 1
    launch "$dir" kube-scheduler \
        --kubeconfig "$dir/kubeconfig" \
        --bind-address 127.0.0.1 \
        --secure-port 0 \
        --port 0 \
        --leader-elect=false \
        --v 1

    # The `default` namespace is not created by itself without the full bootstrap: create it.
    local code
    code="$(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $(cat "$dir/token")" -H 'Content-Type: application/json' \
        -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}' \
        "https://127.0.0.1:$api_port/api/v1/namespaces")"
    case "$code" in
    201 | 409) ;;
    *) log_tails "$dir"; cmd_stop "$dir" >/dev/null 2>&1 || true; fail "creating namespace default answered HTTP $code" ;;
    esac
    # The controller manager and scheduler must still be alive after they read the kubeconfig.
    sleep 1
    all_running "$dir" || { log_tails "$dir"; cmd_stop "$dir" >/dev/null 2>&1 || true; fail "a component exited during start (logs above)"; }

    note "ready in $((SECONDS - started)) s: API https://127.0.0.1:$api_port, logs $dir/*.log"
    note "export KUBECONFIG=$dir/kubeconfig"
    echo "$dir/kubeconfig"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    local dir="$1" name pid
    [ -d "$dir" ] || return 0
    local grace="${CANOPY_KUBE_STOP_SECS:-10}"
    # Reverse order: clients first, etcd last.
    for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do
        if pid="$(live_pid "$dir" "$name")"; then
            kill -TERM "$pid" 2>/dev/null || true
            local deadline=$((SECONDS + grace))
            while [ -d "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do
                # A zombie (our own exited child) counts as stopped.
                grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && break
                sleep 0.2
            done
            if [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
                note "$name (pid $pid) did not stop in ${grace} s: killing it"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            note "stopped $name (pid $pid)"
        fi
        rm -f "$dir/$name.pid"
    done
}

cmd_status() {
    [ $# -eq 1 ] || usage
    local dir="$1" name pid rc=0
    for name in "${BINARIES[@]}"; do
        if pid="$(live_pid "$dir" "$name")"; then
            echo "$name: running (pid $pid)"
        else
            echo "$name: not running"
            rc=1
        fi
    done
    if [ $rc -eq 0 ]; then
        if apiserver_ready "$dir"; then echo "readyz: ok"; else echo "readyz: not ready"; rc=1; fi
    fi
    return $rc
}

main() {
    local cmd="${1:-}"
    [ $# -gt 0 ] && shift
    case "$cmd" in
    build) cmd_build "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    *) usage ;;
    esac
}

main "$@"
