#!/usr/bin/env bash
# Compares canopy-agent's host energy with Scaphandre's on a synthetic powercap tree whose
# counters advance at a known power (package-0 40 W, its core 30 W, dram 8 W: host 48 W), in
# three runs: steady, a counter that wraps every 5 s, and a package counter that cannot be read
# for 1.5 s every 10 s. Both tools read the same tree at the same time, once a second.
#
#   scripts/compare-scaphandre.sh            # 30 s per run
#   RUN_SECS=60 scripts/compare-scaphandre.sh
#
# Scaphandre (crate `scaphandre` 1.0.0, JSON exporter only) is built once into
# ~/.cache/canopy/tools; canopy-agent is built in release without the `kube` feature. Scaphandre
# reads the tree in its VM mode (`--vm`, `SCAPHANDRE_POWERCAP_PATH`), the one way to point it at
# another powercap directory; canopy-agent runs in `run` mode with an unreachable server, so
# every interval stays in its spool, where the script reads the samples. Needs python3; on a
# kernel without /proc/modules (Scaphandre panics without it) also root and unshare.
# Figures from this machine are in docs/AGENT.md ("Compared with Scaphandre").
#
# Environment:
#   RUN_SECS           seconds per run (default 30)
#   CANOPY_CACHE_DIR   cache root for the Scaphandre build (default ~/.cache/canopy)
#   CARGO_TARGET_DIR   where canopy-agent is built (default <repo>/target)
set -euo pipefail

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
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
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
# mount namespace whose /proc shows the real one plus a `modules` file naming intel_rapl_common
# (root only; the host's /proc is untouched).
scaphandre() {
  if [[ -e /proc/modules ]]; then
    "$SCAPH" "$@"
  elif [[ $(id -u) == 0 ]] && command -v unshare >/dev/null; then
    mkdir -p "$WORK/realproc"
    unshare --mount --propagation private sh -c '
      mount -t proc proc "$0" && mount -t tmpfs tmpfs /proc &&
      for e in "$0"/*; do ln -s "$e" "/proc/${e##*/}"; done &&
      echo "intel_rapl_common 32768 0 - Live 0x0000000000000000" > /proc/modules &&
      exec "$@"' "$WORK/realproc" "$SCAPH" "$@"
  else
    echo "Scaphandre needs /proc/modules, which this kernel lacks (re-run as root)" >&2
    return 1
  fi
}

run() {
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
  SCAPHANDRE_POWERCAP_PATH=$dir/sys/class/powercap scaphandre --vm json --step 1 \
    --timeout "$RUN_SECS" --max-top-consumers 0 --file "$dir/scaphandre.json" >"$dir/scaph.log" 2>&1
  kill -TERM "$agent" "$writer"
  wait "$agent" "$writer" 2>/dev/null || true
  python3 "$WORK/summary.py" "$dir/spool" "$dir/scaphandre.json" "$label"
}

echo "| run | truth | canopy-agent | Scaphandre $SCAPH_VERSION |"
echo "|---|---|---|---|"
run steady 262143328850 0
run "wrap every 5 s (range 200 J)" 200000000 0
run "package unreadable 1.5 s in 10" 262143328850 1
