#!/usr/bin/env bash
# Fault tests against real processes (docs/RELIABILITY.md).
#   scripts/fault-test.sh postgres-restart
#       AGENTS real canopy-agent processes (`run`, estimated source, 1 s interval, a node token
#       and a spool each) push to a release canopy; after WARMUP_SECS PostgreSQL is stopped for
#       DOWN_SECS and started again on the same port; once every spool has drained the agents
#       stop and the stored intervals are checked: each node's intervals follow one another
#       with no gap from its first to its last (a lost batch is a gap), nothing dead-lettered
#       or dropped, and the stored batches equal what the agents counted as delivered.
#   scripts/fault-test.sh apiserver-down
#       A release canopy on its sandbox (the local control plane, simulated nodes) deploys; the
#       kube-apiserver is stopped mid-rollout for APISERVER_DOWN_SECS (60) and started again
#       with the same command line; the deploy must end (succeeded, or failed with a reason)
#       within AWAIT_SECS (300), and a next deploy succeed.
#   scripts/fault-test.sh canopy-sigkill
#       The same, but canopy is SIGKILLed KILL_AFTER_SECS (1) into the rollout and started
#       again on the same database: the deploy must end (resumed or failed with a reason).
# Environment: AGENTS (default 10), WARMUP_SECS (20), DOWN_SECS (30), AFTER_SECS (30),
# FAULT_DIR (scratch, default /tmp/canopy-faults). Not part of `make test`.
source "$(dirname "$0")/common.sh"

scenario="${1:-}"
FAULT_DIR="${FAULT_DIR:-/tmp/canopy-faults}"
mkdir -p "$FAULT_DIR"
cd "$REPO_ROOT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$REPO_ROOT/scripts/test-postgres.sh" stop "$FAULT_DIR/pg" || true
}
trap cleanup EXIT

start_canopy() { # DB_URL -> sets canopy_pid, base, token
    local db_url="$1" port
    port="$(free_port)"
    token="fault-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    rm -rf "$FAULT_DIR/data"; mkdir -p "$FAULT_DIR/data"
    DATABASE_URL="$db_url" CANOPY_API_TOKEN="$token" CANOPY_LISTEN_ADDR="127.0.0.1:$port" \
        CANOPY_SANDBOX=off CANOPY_DATA_DIR="$FAULT_DIR/data" CANOPY_SITE_ROOT="$site" \
        RUST_LOG="${RUST_LOG:-info}" "$CARGO_TARGET_DIR/release/canopy" >"$FAULT_DIR/canopy.log" 2>&1 &
    canopy_pid=$!; pids+=("$canopy_pid")
    base="http://127.0.0.1:$port"
    for _ in $(seq 1 120); do
        curl -fsS "$base/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$canopy_pid" 2>/dev/null || { tail -20 "$FAULT_DIR/canopy.log" >&2; die "canopy exited"; }
        sleep 0.5
    done
    die "canopy did not become ready"
}

metric() { # PORT NAME -> value (0 when absent)
    curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v n="$2" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}

postgres_restart() {
    local agents="${AGENTS:-10}" warmup="${WARMUP_SECS:-20}" down="${DOWN_SECS:-30}" after="${AFTER_SECS:-30}"
    step "Building canopy (release) and canopy-agent"
    SQLX_OFFLINE=true cargo build --release -p canopy-server --bin canopy
    SQLX_OFFLINE=true cargo build --release -p canopy-agent --bin canopy-agent
    site="$CARGO_TARGET_DIR/release/site"
    [ -f "$site/manifest.json" ] || site="$CARGO_TARGET_DIR/debug/site"

    "$REPO_ROOT/scripts/test-postgres.sh" stop "$FAULT_DIR/pg" || true
    local pg_url pg_port db_url
    pg_url="$("$REPO_ROOT/scripts/test-postgres.sh" start "$FAULT_DIR/pg" | sed -n 's/^DATABASE_URL=//p')"
    pg_port="${pg_url##*:}"; pg_port="${pg_port%%/*}"
    psql "$pg_url" -q -c "DROP DATABASE IF EXISTS canopy_fault WITH (FORCE)" -c "CREATE DATABASE canopy_fault"
    db_url="${pg_url%/postgres}/canopy_fault"
    start_canopy "$db_url"

    step "Starting $agents agents"
    local i ports=()
    for i in $(seq 0 $((agents - 1))); do
        local node="fault-node-$i" tok mport
        tok="$(curl -fsS -H "Authorization: Bearer $token" -H 'content-type: application/json' \
            -d "{\"cluster\":\"fault\",\"node\":\"$node\"}" "$base/api/v1/energy/node-tokens" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
        mport="$(free_port)"; ports+=("$mport")
        rm -rf "$FAULT_DIR/agent-$i"; mkdir -p "$FAULT_DIR/agent-$i"
        CANOPY_KUBE=false RUST_LOG=info "$CARGO_TARGET_DIR/release/canopy-agent" run \
            --source estimated --interval 1 --node "$node" --server-url "$base" --node-token "$tok" \
            --spool-dir "$FAULT_DIR/agent-$i/spool" --metrics-addr "127.0.0.1:$mport" \
            >"$FAULT_DIR/agent-$i/log" 2>&1 &
        pids+=("$!")
    done
    sleep "$warmup"
    step "Stopping PostgreSQL for ${down}s (agents keep sampling; the server answers 503)"
    local t_stop=$SECONDS
    "$REPO_ROOT/scripts/test-postgres.sh" stop "$FAULT_DIR/pg"
    sleep "$down"
    TEST_PG_PORT="$pg_port" "$REPO_ROOT/scripts/test-postgres.sh" start "$FAULT_DIR/pg" >/dev/null
    info "PostgreSQL back after $((SECONDS - t_stop)) s"
    local readyz_back=$SECONDS
    until curl -fsS "$base/readyz" >/dev/null 2>&1; do
        [ $((SECONDS - readyz_back)) -lt 120 ] || die "canopy not ready 120 s after PostgreSQL came back"
        sleep 0.5
    done
    info "canopy ready again after $((SECONDS - readyz_back)) s"
    sleep "$after"

    step "Waiting for every spool to drain"
    local deadline=$((SECONDS + 300)) left
    while :; do
        left=0
        for i in "${!ports[@]}"; do
            left=$((left + $(metric "${ports[$i]}" canopy_agent_spool_batches)))
        done
        [ "$left" = 0 ] && break
        [ $SECONDS -lt $deadline ] || die "spools still hold $left batches after 300 s"
        sleep 1
    done
    local delivered=0 dead=0 dropped=0
    for i in "${!ports[@]}"; do
        delivered=$((delivered + $(metric "${ports[$i]}" canopy_agent_batches_delivered_total)))
        dropped=$((dropped + $(metric "${ports[$i]}" canopy_agent_spool_dropped_batches_total)))
    done
    # Stop the agents (SIGTERM) right after reading their counters; a batch they write meanwhile
    # stays in their spool and is counted there.
    for i in "${!ports[@]}"; do kill "${pids[$((i + 1))]}" 2>/dev/null || true; done
    sleep 2
    local spooled dead_files
    spooled="$(find "$FAULT_DIR"/agent-*/spool -maxdepth 1 -name '*.json' | wc -l)"
    dead_files="$(find "$FAULT_DIR"/agent-*/spool -path '*dead-letter*' -name '*.json' | wc -l)"
    local failed_pushes
    failed_pushes="$(cat "$FAULT_DIR"/agent-*/log | grep -c 'push failed' || true)"

    step "Checking the stored intervals"
    psql "$db_url" -At -F ' ' -c "
        WITH i AS (
            SELECT node, during,
                   lag(upper(during)) OVER (PARTITION BY node ORDER BY lower(during)) AS prev_end
            FROM energy_node_intervals WHERE cluster = 'fault')
        SELECT node, count(*), count(*) FILTER (WHERE prev_end IS NOT NULL AND lower(during) <> prev_end),
               round(extract(epoch FROM max(upper(during)) - min(lower(during)))::numeric, 3),
               round(sum(extract(epoch FROM upper(during) - lower(during)))::numeric, 3)
        FROM i GROUP BY node ORDER BY node" >"$FAULT_DIR/intervals.txt"
    local stored gaps max_dropped
    stored="$(awk '{s += $2} END {print s}' "$FAULT_DIR/intervals.txt")"
    gaps="$(awk '{s += $3} END {print s}' "$FAULT_DIR/intervals.txt")"
    max_dropped="$(psql "$db_url" -At -c "SELECT coalesce(max(dropped_batches_total), 0) FROM energy_batches WHERE cluster = 'fault'")"
    printf '    %-16s %8s %5s %12s %12s\n' node batches gaps "span s" "covered s"
    awk '{printf "    %-16s %8s %5s %12s %12s\n", $1, $2, $3, $4, $5}' "$FAULT_DIR/intervals.txt"
    info "agents: $delivered batches delivered (their counters), $failed_pushes failed pushes logged (retried from the spool), $spooled left in spools at stop, $dead_files dead-lettered, $dropped dropped (spool bound); batches' dropped_batches_total max $max_dropped"
    info "server: $stored batches stored, $gaps gaps between consecutive intervals"
    [ "$gaps" = 0 ] && [ "$dead_files" = 0 ] && [ "$dropped" = 0 ] && [ "$max_dropped" = 0 ] \
        && [ "$stored" -ge "$delivered" ] && [ "$failed_pushes" -gt 0 ] \
        || die "samples were lost (or the outage was not seen): see above"
    info "samples lost: 0"
}

# --- Rollouts on Canopy's sandbox (the local control plane + simulated nodes) -----------------

start_sandbox_canopy() { # DB_URL -> canopy on its sandbox, data dir kept across restarts
    local db_url="$1"
    token="${token:-fault-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
    port="${port:-$(free_port)}"
    mkdir -p "$FAULT_DIR/data-kube"
    DATABASE_URL="$db_url" CANOPY_API_TOKEN="$token" CANOPY_LISTEN_ADDR="127.0.0.1:$port" \
        CANOPY_DATA_DIR="$FAULT_DIR/data-kube" CANOPY_SITE_ROOT="$site" \
        CANOPY_KUBE_TESTENV="$REPO_ROOT/scripts/kube-testenv.sh" CANOPY_FOLLOWER_LEASE_SECS=5 \
        RUST_LOG="${RUST_LOG:-info}" "$CARGO_TARGET_DIR/release/canopy" >>"$FAULT_DIR/canopy-kube.log" 2>&1 &
    canopy_pid=$!; pids+=("$canopy_pid")
    base="http://127.0.0.1:$port"
    local t=$SECONDS
    until curl -fsS "$base/readyz" >/dev/null 2>&1; do
        kill -0 "$canopy_pid" 2>/dev/null || { tail -20 "$FAULT_DIR/canopy-kube.log" >&2; die "canopy exited"; }
        [ $((SECONDS - t)) -lt 180 ] || die "canopy not ready after 180 s"
        sleep 0.5
    done
}

deploy() { # IMAGE -> deploy id
    curl -sS --fail-with-body -H "Authorization: Bearer $token" -H 'content-type: application/json' \
        -d "{\"spec\": {\"team\": \"faults\", \"name\": \"web\", \"environment\": \"dev\",
             \"image\": \"$1\", \"port\": 80, \"replicas\": 3}, \"reason\": \"fault test\"}" \
        "$base/api/v1/deploys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# Polls deploy ID until it ends or LIMIT seconds pass; prints the final status and reason.
await_deploy() { # ID LIMIT
    local id="$1" limit="$2" t=$SECONDS record status
    while :; do
        record="$(curl -sS -H "Authorization: Bearer $token" "$base/api/v1/deploys/$id" || true)"
        status="$(python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",""))' <<<"$record" 2>/dev/null || true)"
        case "$status" in
        succeeded | failed)
            python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["status"], "after", r.get("duration_ms"), "ms;", r.get("failure_reason") or "")' <<<"$record"
            return 0 ;;
        esac
        [ $((SECONDS - t)) -lt "$limit" ] || { echo "stuck: still '$status' after ${limit}s"; return 1; }
        sleep 1
    done
}

rollout_setup() {
    step "Building canopy (release)"
    SQLX_OFFLINE=true cargo build --release -p canopy-server --bin canopy
    site="$CARGO_TARGET_DIR/release/site"
    [ -f "$site/manifest.json" ] || site="$CARGO_TARGET_DIR/debug/site"
    "$REPO_ROOT/scripts/kube-testenv.sh" build
    local pg_url
    pg_url="$("$REPO_ROOT/scripts/test-postgres.sh" start "$FAULT_DIR/pg" | sed -n 's/^DATABASE_URL=//p')"
    psql "$pg_url" -q -c "DROP DATABASE IF EXISTS canopy_rollout WITH (FORCE)" -c "CREATE DATABASE canopy_rollout"
    kube_db_url="${pg_url%/postgres}/canopy_rollout"
    rm -rf "$FAULT_DIR/data-kube" "$FAULT_DIR/canopy-kube.log"
    start_sandbox_canopy "$kube_db_url"
    step "A first deploy (the baseline)"
    local id; id="$(deploy nginx:1.27)"
    await_deploy "$id" 300 || die "the baseline deploy did not end"
}

rollout_teardown() {
    kill "$canopy_pid" 2>/dev/null || true
    wait "$canopy_pid" 2>/dev/null || true
    "$REPO_ROOT/scripts/kube-testenv.sh" stop "$FAULT_DIR/data-kube/sandbox" >/dev/null 2>&1 || true
}

apiserver_down() {
    local down="${APISERVER_DOWN_SECS:-60}" sandbox="$FAULT_DIR/data-kube/sandbox"
    rollout_setup
    step "Deploy, then the API server stopped for ${down}s mid-rollout"
    local id apid args=()
    id="$(deploy nginx:1.28)"
    apid="$(cat "$sandbox/kube-apiserver.pid")"
    mapfile -d '' args <"/proc/$apid/cmdline"
    kill "$apid"
    local t=$SECONDS
    info "deploy $id; kube-apiserver (pid $apid) stopped"
    sleep "$down"
    setsid "${args[@]}" >>"$sandbox/kube-apiserver.log" 2>&1 </dev/null &
    echo $! >"$sandbox/kube-apiserver.pid"
    info "kube-apiserver started again after $((SECONDS - t)) s"
    local outcome
    outcome="$(await_deploy "$id" "${AWAIT_SECS:-300}")" || { info "$outcome"; die "the deploy is stuck"; }
    info "deploy $id: $outcome ($((SECONDS - t)) s after the stop)"
    step "A deploy after the outage"
    id="$(deploy nginx:1.29)"
    outcome="$(await_deploy "$id" 300)" || die "the next deploy did not end: $outcome"
    info "deploy $id: $outcome"
    rollout_teardown
}

canopy_sigkill() {
    rollout_setup
    step "Deploy, SIGKILL canopy mid-rollout, start it again"
    local id
    id="$(deploy nginx:1.28)"
    sleep "${KILL_AFTER_SECS:-1}"
    kill -KILL "$canopy_pid"
    wait "$canopy_pid" 2>/dev/null || true
    local t=$SECONDS
    info "deploy $id; canopy SIGKILLed; its status then: $(psql "$kube_db_url" -At -c "SELECT status FROM deploys WHERE id = $id" 2>/dev/null || echo '?')"
    start_sandbox_canopy "$kube_db_url"
    info "canopy ready again after $((SECONDS - t)) s"
    local outcome
    outcome="$(await_deploy "$id" "${AWAIT_SECS:-300}")" || { info "$outcome"; die "the deploy is stuck"; }
    info "deploy $id: $outcome ($((SECONDS - t)) s after the kill)"
    step "A deploy after the restart"
    id="$(deploy nginx:1.29)"
    outcome="$(await_deploy "$id" 300)" || die "the next deploy did not end: $outcome"
    info "deploy $id: $outcome"
    rollout_teardown
}

case "$scenario" in
postgres-restart) postgres_restart ;;
apiserver-down) apiserver_down ;;
canopy-sigkill) canopy_sigkill ;;
*) die "usage: $0 postgres-restart|apiserver-down|canopy-sigkill" ;;
esac
