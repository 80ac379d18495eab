#!/usr/bin/env bash
# Compares canopy-agent with Scaphandre on a synthetic powercap tree whose counters advance at a
# known power (package-0 40 W, its core 30 W, dram 8 W: host 48 W), both tools reading the same
# tree at the same time, once a second. Modes (first argument, default `all`):
#
#   host    three runs: steady, a counter that wraps every 5 s, and a package counter that
#           cannot be read for 1.5 s every 10 s; host power by both tools.
#   burner  a one-core busy loop (python3) in a pod-shaped cgroup, steady counters: host power
#           and the burner's power by both tools, and each tool's CPU time (utime + stime from
#           /proc/PID/stat) and peak RSS (VmHWM), plus canopy-agent's sampling cycle
#           (canopy_agent_scrape_duration_seconds from its /metrics).
#   quiet   canopy-agent alone (no burner, no Scaphandre) on the steady tree: its sampling
#           cycle, CPU time and RSS on an otherwise quiet machine.
#   all     host, burner, quiet.
#
#   scripts/compare-scaphandre.sh                 # all, 30 s per run
#   RUN_SECS=60 scripts/compare-scaphandre.sh burner
#
# Scaphandre (crate `scaphandre` 1.0.0, JSON exporter only) is built once into
# ~/.cache/canopy/tools; canopy-agent is built in release without the `kube` feature.
#
# How each tool is pointed at the synthetic tree:
# - canopy-agent: `run --sysfs-root <tree>` with an unreachable server, so every interval stays
#   in its spool, where the script reads the samples. The tree's `fs/cgroup` is a symlink to the
#   host's /sys/fs/cgroup, so the agent reads the pods' cgroup CPU usage from the real cgroups.
# - Scaphandre: its VM mode (`--vm`, `SCAPHANDRE_POWERCAP_PATH=<tree>/class/powercap`), the one
#   way to point it at another powercap directory; no patch. It reads /proc/modules (to look for
#   intel_rapl_common) even in VM mode and panics without it; kernels built without modules (some
#   VMs, this project's machine) have none. There it runs in a private mount namespace
#   (`unshare --mount --propagation private`, root only; the host's /proc is untouched): a fresh
#   procfs is mounted on a scratch directory, a tmpfs on /proc, and /proc is filled with one
#   symlink per entry of the real procfs plus a `modules` file naming intel_rapl_common. The
#   symlinks are taken when Scaphandre starts, so it sees only processes that existed then:
#   the burner is started before it (and its pid is checked in Scaphandre's output).
#
# The pod: cgroup `<hierarchy>/canopy-compare/kubepods/besteffort/pod<uid>/<64-hex id>` (the
# cgroupfs driver's layout, under a `canopy-compare` directory so a real kubelet's tree is never
# touched), in the cgroup v2 root when /sys/fs/cgroup is unified, else in the v1 cpuacct
# hierarchy; the burner writes its own pid to `cgroup.procs` before it execs, so all its time is
# the pod's. canopy-agent finds it without the Kubernetes API (pods by UID, from the cgroup
# tree); Scaphandre's figure is its per-process consumer for the burner's pid
# (`--process-regex canopy-burner`). Removed at exit.
#
# Needs python3 and, for the burner and quiet modes, root (cgroups); on a kernel without
# /proc/modules also unshare. Figures from this machine are in docs/AGENT.md ("Compared with
# Scaphandre").
#
# Environment:
#   RUN_SECS           seconds per run (default 30)
#   CANOPY_CACHE_DIR   cache root for the Scaphandre build (default ~/.cache/canopy)
#   CARGO_TARGET_DIR   where canopy-agent is built (default <repo>/target)
set -euo pipefail

MODE=${1:-all}
case $MODE in
  host | burner | quiet | all) ;;
  *) echo "usage: $0 [host|burner|quiet|all]" >&2; exit 2 ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CANOPY_CACHE_DIR:-$HOME/.cache/canopy}
SCAPH_VERSION=1.0.0
SCAPH_ROOT=$CACHE/tools/scaphandre-$SCAPH_VERSION
SCAPH=$SCAPH_ROOT/bin/scaphandre
RUN_SECS=${RUN_SECS:-30}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

if [[ ! -x $SCAPH ]]; then
  echo "building scaphandre $SCAPH_VERSION into $SCAPH_ROOT (once)..." >&2
  CARGO_TARGET_DIR=$CACHE/target-scaphandre cargo install scaphandre --version "$SCAPH_VERSION" \
    --locked --no-default-features --features json --root "$SCAPH_ROOT" >&2
fi
echo "building canopy-agent (release, without kube)..." >&2
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build -p canopy-agent --release \
  --no-default-features --quiet)
AGENT=$TARGET_DIR/release/canopy-agent

WORK=$(mktemp -d)
PIDS=()
POD_CGROUP_BASE=  # the `canopy-compare` cgroup directory, once made
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  remove_pod_cgroups
  rm -rf "$WORK"
}
remove_pod_cgroups() {  # leaf first, once their processes are gone
  if [[ -n $POD_CGROUP_BASE && -d $POD_CGROUP_BASE ]]; then
    find "$POD_CGROUP_BASE" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  fi
}
trap cleanup EXIT

# Writes the counters: energy_uj = (start + P * t) mod max_energy_range_uj, every 10 ms,
# replaced atomically; during an unreadable window the package's energy_uj is a directory.
cat > "$WORK/writer.py" <<'PY'
import os, sys, time
root, range_uj, unreadable = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
zones = {  # id: (name, watts, start_uj, declared max power in uW)
    "intel-rapl:0": ("package-0", 40.0, range_uj - 3_000_000, 50_000_000),
    "intel-rapl:0:0": ("core", 30.0, range_uj // 2, 40_000_000),
    "intel-rapl:0:1": ("dram", 8.0, 1_000, 10_000_000),
}
base = os.path.join(root, "class/powercap")
for zid, (name, _, start, max_power) in zones.items():
    d = os.path.join(base, zid)
    os.makedirs(d)
    for f, v in [("name", name), ("max_energy_range_uj", range_uj), ("energy_uj", start),
                 ("constraint_0_name", "long_term"), ("constraint_0_max_power_uw", max_power),
                 ("constraint_0_power_limit_uw", max_power)]:
        with open(os.path.join(d, f), "w") as fh:
            fh.write(f"{v}\n")
open(os.path.join(root, "ready"), "w").close()
t0 = time.monotonic()
while True:
    t = time.monotonic() - t0
    for zid, (_, watts, start, _) in zones.items():
        path = os.path.join(base, zid, "energy_uj")
        hidden = unreadable and zid == "intel-rapl:0" and (t % 10.0) >= 5.0 and (t % 10.0) < 6.5
        if hidden:
            if not os.path.isdir(path):
                os.remove(path)
                os.mkdir(path)
            continue
        if os.path.isdir(path):
            os.rmdir(path)
        with open(path + ".tmp", "w") as fh:
            fh.write(f"{int(start + watts * 1e6 * t) % range_uj}\n")
        os.replace(path + ".tmp", path)
    time.sleep(0.01)
PY

# Reads both tools' output: canopy's spooled samples and Scaphandre's concatenated reports.
cat > "$WORK/summary.py" <<'PY'
import glob, json, sys, datetime, statistics
spool, scaph_file, label = sys.argv[1], sys.argv[2], sys.argv[3]
truth_w = 48.0
ts = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
samples = [s for f in sorted(glob.glob(spool + "/*.json")) for s in json.load(open(f))["samples"]]
energy = sum(s["host_energy_joules"] for s in samples)
covered = sum(ts(s["end"]) - ts(s["start"]) for s in samples)
window = ts(samples[-1]["end"]) - ts(samples[0]["start"]) if samples else 0.0
spanning = sum(1 for s in samples if ts(s["end"]) - ts(s["start"]) > 1.5)
text = open(scaph_file).read()
reports, i, dec = [], 0, json.JSONDecoder()
while i < len(text):
    obj, i = dec.raw_decode(text, i)
    reports.append(obj)
    while i < len(text) and text[i].isspace():
        i += 1
watts = [r["host"]["consumption"] / 1e6 for r in reports]
stamps = [r["host"]["timestamp"] for r in reports]
step = statistics.median(b - a for a, b in zip(stamps, stamps[1:])) if len(stamps) > 2 else 1.0
expected = round((stamps[-1] - stamps[0]) / step) + 1 if stamps else 0
scaph_energy = sum(w * step for w in watts)
scaph_window = step * expected
print(f"| {label} | {truth_w:.2f} W | {energy / covered:.2f} W over {covered:.1f} s "
      f"({100 * covered / window:.0f} % of {window:.1f} s; {len(samples)} samples, "
      f"{spanning} spanning a failed read); {energy:.1f} J vs {truth_w * window:.1f} J true "
      f"| {statistics.mean(watts):.2f} W mean of {len(watts)} of {expected} steps "
      f"(min {min(watts):.2f}, max {max(watts):.2f}); {scaph_energy:.1f} J vs "
      f"{truth_w * scaph_window:.1f} J true |")
PY

# Scaphandre reads /proc/modules (to check for the RAPL modules) even in VM mode and panics
# without it; kernels built without modules (some VMs) have none. There, run it in a private
# mount namespace whose /proc shows the real one (a symlink per entry, taken at start: later
# processes are not seen) plus a `modules` file naming intel_rapl_common (root only; the host's
# /proc is untouched). `scaphandre PIDFILE ARGS...`: PIDFILE receives Scaphandre's pid (the
# shell writes its own and execs, through unshare, which does not fork).
scaphandre() {
  local pidfile=$1
  shift
  if [[ -e /proc/modules ]]; then
    sh -c 'echo $$ > "$0" && exec "$@"' "$pidfile" "$SCAPH" "$@"
  elif [[ $(id -u) == 0 ]] && command -v unshare >/dev/null; then
    mkdir -p "$WORK/realproc"
    unshare --mount --propagation private sh -c '
      mount -t proc proc "$0" && mount -t tmpfs tmpfs /proc &&
      for e in "$0"/*; do ln -s "$e" "/proc/${e##*/}"; done &&
      echo "intel_rapl_common 32768 0 - Live 0x0000000000000000" > /proc/modules &&
      echo $$ > "$1" && shift && exec "$@"' "$WORK/realproc" "$pidfile" "$SCAPH" "$@"
  else
    echo "Scaphandre needs /proc/modules, which this kernel lacks (re-run as root)" >&2
    return 1
  fi
}

run_host() {
  local label=$1 range_uj=$2 unreadable=$3 dir=$WORK/$1
  mkdir -p "$dir/sys"
  python3 "$WORK/writer.py" "$dir/sys" "$range_uj" "$unreadable" &
  local writer=$!
  PIDS+=("$writer")
  while [[ ! -e $dir/sys/ready ]]; do sleep 0.05; done
  CANOPY_NODE_TOKEN=unused "$AGENT" run --sysfs-root "$dir/sys" --procfs-root /proc \
    --source measured --interval 1 --server-url http://127.0.0.1:9 --spool-dir "$dir/spool" \
    --metrics-addr 127.0.0.1:0 --kube false --node compare 2>"$dir/agent.log" &
  local agent=$!
  PIDS+=("$agent")
  SCAPHANDRE_POWERCAP_PATH=$dir/sys/class/powercap scaphandre "$dir/scaph.pid" --vm json --step 1 \
    --timeout "$RUN_SECS" --max-top-consumers 0 --file "$dir/scaphandre.json" >"$dir/scaph.log" 2>&1
  kill -TERM "$agent" "$writer"
  wait "$agent" "$writer" 2>/dev/null || true
  python3 "$WORK/summary.py" "$dir/spool" "$dir/scaphandre.json" "$label"
}

# Polls canopy-agent's and Scaphandre's (and the burner's) /proc/PID/stat and status every
# 0.2 s until Scaphandre exits (its --timeout; a kill would lose its buffered report file), so the
# last figures are at most 0.2 s short; then reads the agent's once more and its /metrics.
# Writes JSON: per process CPU seconds (utime + stime, all threads), lifetime, VmHWM.
cat > "$WORK/monitor.py" <<'PY'
import json, os, sys, time, urllib.request
out, metrics_url, wait_for = sys.argv[1], sys.argv[2], sys.argv[3]
pids = dict(a.split("=") for a in sys.argv[4:])  # name=pid
hz = os.sysconf("SC_CLK_TCK")
def read(pid):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        status = open(f"/proc/{pid}/status").read()
        uptime = float(open("/proc/uptime").read().split()[0])
    except OSError:
        return None
    rest = stat[stat.rindex(")") + 2:].split()
    hwm = next((int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM:")), 0)
    return {"cpu_s": (int(rest[11]) + int(rest[12])) / hz,
            "lifetime_s": uptime - int(rest[19]) / hz, "vmhwm_kib": hwm}
def node_cpu_s():  # the node's total CPU time (first line of /proc/stat, as both tools read it)
    return sum(int(v) for v in open("/proc/stat").readline().split()[1:9]) / hz
last, first = {}, {}
while True:
    for name, pid in pids.items():
        r = read(pid)
        if r:
            r["node_cpu_s"] = node_cpu_s()
            last[name] = r
            first.setdefault(name, r)
    if read(pids[wait_for]) is None:
        break
    time.sleep(0.2)
for name, pid in pids.items():
    r = read(pid)
    if r:
        r["node_cpu_s"] = node_cpu_s()
        last[name] = r
try:
    last["metrics"] = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
except OSError as e:
    last["metrics"] = ""
    last["metrics_error"] = str(e)
last["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
last["first"] = first
json.dump(last, open(out, "w"))
PY

# Host and burner power by both tools, CPU time and RSS of each, the agent's sampling cycle.
cat > "$WORK/burner_summary.py" <<'PY'
import glob, json, sys, datetime, statistics
spool, scaph_file, monitor_file, pod_uid, burner_pid, loadavg_start = sys.argv[1:7]
truth_w = 48.0
ts = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
samples = [s for f in sorted(glob.glob(spool + "/*.json")) for s in json.load(open(f))["samples"]]
covered = sum(ts(s["end"]) - ts(s["start"]) for s in samples)
host_j = sum(s["host_energy_joules"] for s in samples)
pod_j = sum(p["energy_joules"] for s in samples for p in s["pods"] if p["pod_uid"] == pod_uid)
with_pod = sum(1 for s in samples if any(p["pod_uid"] == pod_uid for p in s["pods"]))
text = open(scaph_file).read()
reports, i, dec = [], 0, json.JSONDecoder()
while i < len(text):
    obj, i = dec.raw_decode(text, i)
    reports.append(obj)
    while i < len(text) and text[i].isspace():
        i += 1
host_w = [r["host"]["consumption"] / 1e6 for r in reports]
burner_w = [c["consumption"] / 1e6 for r in reports for c in r["consumers"]
            if c["pid"] == int(burner_pid)]
others = {c["pid"] for r in reports for c in r["consumers"] if c["pid"] != int(burner_pid)}
mon = json.load(open(monitor_file))
metrics = {}
for line in mon.get("metrics", "").splitlines():
    if line.startswith("canopy_agent_scrape_duration_seconds_"):
        name, value = line.rsplit(" ", 1)
        metrics[name] = float(value)
cycles = metrics.get("canopy_agent_scrape_duration_seconds_count", 0)
cycle_ms = 1e3 * metrics["canopy_agent_scrape_duration_seconds_sum"] / cycles if cycles else None
b, b0 = mon.get("burner"), mon.get("first", {}).get("burner")
# The attribution both tools make: host power times the burner's share of the node's CPU time
# (/proc/stat), over the monitored window.
reference = (truth_w * (b["cpu_s"] - b0["cpu_s"]) / (b["node_cpu_s"] - b0["node_cpu_s"])
             if b and b0 and b["node_cpu_s"] > b0["node_cpu_s"] else None)

def tool(name):
    t = mon.get(name)
    if not t:
        return "not measured (process not seen)"
    return (f"{t['cpu_s']:.2f} s CPU over {t['lifetime_s']:.1f} s "
            f"({100 * t['cpu_s'] / t['lifetime_s']:.2f} % of one core), "
            f"VmHWM {t['vmhwm_kib'] / 1024:.1f} MiB")

print(f"load average at start {loadavg_start}, at end {' '.join(mon['loadavg_end'])}")
print(f"| figure | canopy-agent | Scaphandre |")
print(f"|---|---|---|")
print(f"| host power (truth {truth_w:.0f} W) | {host_j / covered:.2f} W ({host_j:.1f} J over "
      f"{covered:.1f} s, {len(samples)} samples) | {statistics.mean(host_w):.2f} W mean of "
      f"{len(host_w)} reports ({min(host_w):.2f}-{max(host_w):.2f}) |")
ref = (f" (reference {reference:.2f} W: 48 W x the burner's CPU time / the node's in /proc/stat; "
       f"the burner ran {100 * b['cpu_s'] / b['lifetime_s']:.1f} % of one core)" if reference else "")
scaph_burner = (f"{statistics.mean(burner_w):.2f} W mean of {len(burner_w)} of {len(reports)} "
                f"reports ({min(burner_w):.2f}-{max(burner_w):.2f})" if burner_w
                else f"no figure: pid {burner_pid} not in its consumers {sorted(others)}")
print(f"| burner (pod {pod_uid[:8]}...){ref} | {pod_j / covered:.2f} W ({pod_j:.1f} J; pod in "
      f"{with_pod} of {len(samples)} samples) | {scaph_burner} |")
print(f"| tool's CPU time and peak RSS | {tool('agent')} | {tool('scaphandre')} |")
if cycle_ms is not None:
    print(f"| sampling cycle (canopy_agent_scrape_duration_seconds, wall) | {cycle_ms:.2f} ms mean "
          f"of {int(cycles)} cycles | |")
else:
    print(f"| sampling cycle | not read: {mon.get('metrics_error', 'no histogram')} | |")
PY

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The pod's cgroup (see the header); sets POD_CGROUP to the container cgroup's path.
make_pod_cgroup() {
  local pod_uid=$1 container_id=$2 hierarchy=
  if [[ $(id -u) != 0 ]]; then
    echo "the burner and quiet modes need root (to make a cgroup)" >&2
    return 1
  fi
  if [[ -e /sys/fs/cgroup/cgroup.controllers ]]; then
    hierarchy=/sys/fs/cgroup
  else
    for h in cpu,cpuacct cpuacct,cpu cpuacct; do
      if [[ -d /sys/fs/cgroup/$h ]]; then hierarchy=/sys/fs/cgroup/$h && break; fi
    done
  fi
  [[ -n $hierarchy ]] || { echo "no cgroup v2 root or v1 cpuacct hierarchy" >&2; return 1; }
  POD_CGROUP_BASE=$hierarchy/canopy-compare
  POD_CGROUP=$POD_CGROUP_BASE/kubepods/besteffort/pod$pod_uid/$container_id
  mkdir -p "$POD_CGROUP"
}

start_steady_tree() {  # dir; the tree at $dir/sys, with fs/cgroup the host's
  local dir=$1
  mkdir -p "$dir/sys/fs"
  ln -s /sys/fs/cgroup "$dir/sys/fs/cgroup"
  python3 "$WORK/writer.py" "$dir/sys" 262143328850 0 &
  PIDS+=("$!")
  while [[ ! -e $dir/sys/ready ]]; do sleep 0.05; done
}

start_agent() {  # dir port; sets AGENT_PID
  local dir=$1 port=$2
  CANOPY_NODE_TOKEN=unused "$AGENT" run --sysfs-root "$dir/sys" --procfs-root /proc \
    --source measured --interval 1 --server-url http://127.0.0.1:9 --spool-dir "$dir/spool" \
    --metrics-addr "127.0.0.1:$port" --kube false --node compare 2>"$dir/agent.log" &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
}

run_burner() {
  local dir=$WORK/burner pod_uid container_id port burner loadavg
  pod_uid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  container_id=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  make_pod_cgroup "$pod_uid" "$container_id"
  start_steady_tree "$dir"
  loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
  # The burner joins the pod's cgroup, then becomes the busy loop (same pid); started before
  # Scaphandre, which sees only processes that exist when it starts (see scaphandre()).
  sh -c 'echo $$ > "$0/cgroup.procs" && exec python3 -c "while True: pass" canopy-burner' \
    "$POD_CGROUP" &
  burner=$!
  PIDS+=("$burner")
  port=$(free_port)
  start_agent "$dir" "$port"
  SCAPHANDRE_POWERCAP_PATH=$dir/sys/class/powercap scaphandre "$dir/scaph.pid" --vm json \
    --step 1 --timeout "$RUN_SECS" --process-regex canopy-burner \
    --file "$dir/scaphandre.json" >"$dir/scaph.log" 2>&1 &
  PIDS+=("$!")
  while [[ ! -s $dir/scaph.pid ]]; do sleep 0.01; done
  python3 "$WORK/monitor.py" "$dir/monitor.json" "http://127.0.0.1:$port/metrics" scaphandre \
    agent="$AGENT_PID" scaphandre="$(cat "$dir/scaph.pid")" burner="$burner"
  wait "${PIDS[-1]}" || true
  kill -TERM "$AGENT_PID" "$burner"
  wait "$AGENT_PID" "$burner" 2>/dev/null || true
  remove_pod_cgroups
  python3 "$WORK/burner_summary.py" "$dir/spool" "$dir/scaphandre.json" "$dir/monitor.json" \
    "$pod_uid" "$burner" "$loadavg"
  # A warning here (e.g. no readable kubepods cgroups) means the pod was not measured as intended.
  # (Push failures are expected: the server is unreachable on purpose.)
  if grep WARN "$dir/agent.log" | grep -vq "push failed"; then
    echo "canopy-agent warnings:"; grep WARN "$dir/agent.log" | grep -v "push failed" | sed 's/^/    /'
  else
    echo "canopy-agent logged no warning (the pod's cgroup was found and read)"
  fi
}

# canopy-agent alone: no burner, no Scaphandre; the pod's cgroup exists (empty), so each cycle
# also reads it. RUN_SECS seconds, then its cycle time, CPU time and VmHWM.
run_quiet() {
  local dir=$WORK/quiet port loadavg
  make_pod_cgroup "$(python3 -c 'import uuid; print(uuid.uuid4())')" \
    "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
  start_steady_tree "$dir"
  loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
  port=$(free_port)
  start_agent "$dir" "$port"
  # Stops polling when the `sleep` ends.
  sleep "$RUN_SECS" &
  python3 "$WORK/monitor.py" "$dir/monitor.json" "http://127.0.0.1:$port/metrics" timer \
    agent="$AGENT_PID" timer="$!"
  kill -TERM "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null || true
  remove_pod_cgroups
  python3 - "$dir/monitor.json" "$loadavg" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
h = {}
for line in m.get("metrics", "").splitlines():
    if line.startswith("canopy_agent_scrape_duration_seconds_") and "_bucket" not in line:
        name, value = line.rsplit(" ", 1)
        h[name.rsplit("_", 1)[1]] = float(value)
a = m["agent"]
print(f"load average at start {sys.argv[2]}, at end {' '.join(m['loadavg_end'])}")
print(f"canopy-agent alone: sampling cycle {1e3 * h['sum'] / h['count']:.2f} ms mean of "
      f"{int(h['count'])} cycles (wall, canopy_agent_scrape_duration_seconds); "
      f"{a['cpu_s']:.2f} s CPU over {a['lifetime_s']:.1f} s "
      f"({100 * a['cpu_s'] / a['lifetime_s']:.2f} % of one core, "
      f"{1e3 * a['cpu_s'] / h['count']:.2f} ms per cycle including start-up); "
      f"VmHWM {a['vmhwm_kib'] / 1024:.1f} MiB")
PY
}

if [[ $MODE == host || $MODE == all ]]; then
  echo "## host power: steady, wrapping, unreadable"
  echo "| run | truth | canopy-agent | Scaphandre $SCAPH_VERSION |"
  echo "|---|---|---|---|"
  run_host steady 262143328850 0
  run_host "wrap every 5 s (range 200 J)" 200000000 0
  run_host "package unreadable 1.5 s in 10" 262143328850 1
fi
if [[ $MODE == burner || $MODE == all ]]; then
  echo "## a one-core burner in a pod, ${RUN_SECS} s at a 1 s interval"
  run_burner
fi
if [[ $MODE == quiet || $MODE == all ]]; then
  echo "## canopy-agent alone, ${RUN_SECS} s at a 1 s interval"
  run_quiet
fi
