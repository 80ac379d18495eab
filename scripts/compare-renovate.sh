#!/usr/bin/env bash
# Runs Renovate's own lookup and Canopy's on the same fixture repositories and prints, per
# dependency, both tools' current version, newest version and update type and whether they agree;
# the agreement on newest version and on update type over the dependencies both could look up;
# every disagreement; and the two tools' times side by side (cold and warm cache) with Canopy's
# registry request count. Not part of `make test`: it asks the real npm and PyPI registries (the
# only ones Renovate can reach from the build machine) and downloads Renovate with npx.
#   scripts/compare-renovate.sh [fixture dir ...]   (default: drift/tests/fixtures/renovate/*)
# Environment: RENOVATE (default renovate@39), KEEP=<dir> to keep logs, reports and JSON there,
# PROFILE=release to time an optimised Canopy (default: the debug build).
# Needs Node 20 (npx), git and python3. Results are recorded in docs/DRIFT.md.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

RENOVATE="${RENOVATE:-renovate@39}"
repos=("$@")
[ ${#repos[@]} -gt 0 ] || repos=(drift/tests/fixtures/renovate/*/)
if [ -n "${KEEP:-}" ]; then
    work="$KEEP"
    rm -rf "$work" && mkdir -p "$work"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi
work="$(cd "$work" && pwd)"

PROFILE="${PROFILE:-debug}"
step "Building Canopy's lookup example ($PROFILE)"
if [ "$PROFILE" = release ]; then
    cargo build -q --release -p canopy-drift --example lookup
else
    cargo build -q -p canopy-drift --example lookup
fi
lookup="$CARGO_TARGET_DIR/$PROFILE/examples/lookup"

step "Fetching $RENOVATE (not timed)"
npx -y "$RENOVATE" --version >"$work/renovate-version" || die "npx could not run $RENOVATE"
info "Renovate $(cat "$work/renovate-version")"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One Renovate run on a copy: --platform=local reads the working directory; dry-run=lookup looks
# every dependency up and stops before branches. Its own log gives the extract and lookup times.
run_renovate() { # <copy> <base dir> <tag>
    local copy="$1" base="$2" tag="$3" start
    start=$(now_ms)
    (cd "$copy" && LOG_LEVEL=debug LOG_FORMAT=json RENOVATE_BASE_DIR="$base" \
        RENOVATE_ONBOARDING=false RENOVATE_REQUIRE_CONFIG=optional \
        RENOVATE_ENABLED_MANAGERS='["npm","pip_requirements"]' \
        npx -y "$RENOVATE" --platform=local --dry-run=lookup \
        --report-type=file --report-path="$work/$tag.report.json" >"$work/$tag.log" 2>&1) || {
        tail -20 "$work/$tag.log" >&2; die "Renovate failed ($tag)"; }
    echo $(( $(now_ms) - start )) >"$work/$tag.wall_ms"
}

for repo in "${repos[@]}"; do
    name="$(basename "$repo")"
    copy="$work/repos/$name"
    mkdir -p "$work/repos"
    cp -r "$repo" "$copy"
    git -C "$copy" init -q && git -C "$copy" add -A && \
        git -C "$copy" -c user.email=c@example.test -c user.name=compare commit -qm fixture
    # A base directory of its own per fixture: the first run starts with an empty package cache.
    base="$work/renovate-base/$name"
    step "$name: Renovate ($RENOVATE, --platform=local --dry-run=lookup), cold then warm cache"
    run_renovate "$copy" "$base" "$name.renovate"
    run_renovate "$copy" "$base" "$name.renovate-warm"
    step "$name: Canopy (lookup example: scan + lookup, cold then warm in-memory cache)"
    start=$(now_ms)
    "$lookup" "$copy" --only npm,pypi >"$work/$name.canopy.json" 2>"$work/$name.canopy.err" || {
        cat "$work/$name.canopy.err" >&2; die "Canopy failed on $name"; }
    echo $(( $(now_ms) - start )) >"$work/$name.canopy.wall_ms"
    echo "$name" >>"$work/fixtures"
    echo "$PROFILE" >"$work/profile"
done

python3 - "$work" <<'PY'
import json, pathlib, re, sys

work = pathlib.Path(sys.argv[1])
ORDER = {"major": 3, "minor": 2, "patch": 1}


def norm_name(name):
    # PEP 503 normalisation (npm names are already lower case and keep their punctuation).
    return re.sub(r"[-_.]+", "-", name).lower()


def norm_version(version):
    return None if version is None else version.lower().lstrip("v")


def renovate_deps(report_file):
    """(file, name) -> dict(current, newest, type, looked_up, why) from Renovate's report."""
    report = json.loads(report_file.read_text())
    repos = report.get("repositories") or {}
    if not repos:
        raise SystemExit(f"{report_file}: Renovate reported no repository: {report.get('problems')}")
    deps = {}
    for repo in repos.values():
        for manager, files in (repo.get("packageFiles") or {}).items():
            for package_file in files:
                for dep in package_file.get("deps", []):
                    name = dep.get("depName") or dep.get("packageName")
                    key = (package_file["packageFile"], norm_name(name))
                    updates = [u for u in dep.get("updates", [])
                               if u.get("updateType") in ORDER and u.get("newVersion")]
                    why = dep.get("skipReason") or "; ".join(
                        w.get("message", "") for w in dep.get("warnings", []))
                    looked_up = not why and dep.get("currentVersion") is not None
                    best = max(updates, key=lambda u: ORDER[u["updateType"]], default=None)
                    deps[key] = {
                        "name": name,
                        "current": dep.get("currentVersion"),
                        "newest": best and best["newVersion"],
                        "type": best and best["updateType"],
                        "lockfile": bool(best and best.get("isLockfileUpdate")),
                        "looked_up": looked_up,
                        "why": why or "no current version",
                    }
    return deps


def canopy_deps(json_file):
    deps = {}
    for d in json.loads(json_file.read_text()):
        key = (d["file"], norm_name(d["name"]))
        looked_up = d["status"] in ("outdated", "up_to_date")
        deps[key] = {
            "name": d["name"],
            "current": d.get("current"),
            "newest": d.get("newest"),
            "type": d.get("update_type"),
            "looked_up": looked_up,
            "why": d.get("reason") or d["status"],
        }
    return deps


def show(side):
    if side is None:
        return "not found"
    if not side["looked_up"]:
        return f"not looked up ({side['why'][:40]})"
    if side["newest"] is None:
        return "up to date"
    return f"{side['newest']} ({side['type']})"


def renovate_timing(log_file):
    for line in log_file.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "Repository timing splits (milliseconds)":
            splits = entry.get("splits", {})
            return splits.get("extract", 0) + splits.get("lookup", 0)
    return None


def canopy_timing(err_file):
    match = re.search(r"canopy-timing cold_ms=(\S+) warm_ms=(\S+) requests=(\S+) warm_requests=(\S+)",
                      err_file.read_text())
    return match.groups() if match else ("?", "?", "?", "?")


total = both = agree_newest = agree_type = agree_all = 0
disagreements, one_sided, timings = [], [], []
for name in (work / "fixtures").read_text().split():
    renovate = renovate_deps(work / f"{name}.renovate.report.json")
    canopy = canopy_deps(work / f"{name}.canopy.json")
    print(f"\n== {name}")
    print(f"{'file':<22} {'dependency':<18} {'current R / C':<24} {'Renovate newest':<24} "
          f"{'Canopy newest':<24} agree")
    for key in sorted(set(renovate) | set(canopy)):
        r, c = renovate.get(key), canopy.get(key)
        total += 1
        r_cur = r and r["current"] or "-"
        c_cur = c and c["current"] or "-"
        if r and c and r["looked_up"] and c["looked_up"]:
            both += 1
            same_newest = norm_version(r["newest"]) == norm_version(c["newest"])
            same_type = r["type"] == c["type"]
            agree_newest += same_newest
            agree_type += same_type
            agree_all += same_newest and same_type
            verdict = "yes" if same_newest and same_type else (
                "NO (newest)" if same_type else "NO (type)" if same_newest else "NO (both)")
            if not (same_newest and same_type):
                disagreements.append(
                    f"{name}/{key[0]} {key[1]} (declared current R {r_cur} / C {c_cur}): "
                    f"Renovate {show(r)}, Canopy {show(c)}")
        else:
            verdict = "n/a"
            one_sided.append(f"{name}/{key[0]} {key[1]}: Renovate {show(r)}, Canopy {show(c)}")
        print(f"{key[0]:<22} {key[1]:<18} {r_cur + ' / ' + c_cur:<24} {show(r):<24} "
              f"{show(c):<24} {verdict}")
    cold_ms, warm_ms, requests, warm_requests = canopy_timing(work / f"{name}.canopy.err")
    timings.append((
        name, len(canopy),
        int((work / f"{name}.renovate.wall_ms").read_text()),
        renovate_timing(work / f"{name}.renovate.log"),
        int((work / f"{name}.renovate-warm.wall_ms").read_text()),
        renovate_timing(work / f"{name}.renovate-warm.log"),
        int((work / f"{name}.canopy.wall_ms").read_text()),
        cold_ms, warm_ms, requests, warm_requests,
    ))

pct = lambda n: f"{100.0 * n / both:.1f} %" if both else "n/a"
version = (work / "renovate-version").read_text().strip()
print(f"\n== Agreement (Renovate {version}), over the {both} of {total} dependencies both looked up")
print(f"newest version: {agree_newest}/{both} = {pct(agree_newest)}")
print(f"update type:    {agree_type}/{both} = {pct(agree_type)}")
print(f"both:           {agree_all}/{both} = {pct(agree_all)}")
print(f"\nDisagreements ({len(disagreements)}):")
for d in disagreements:
    print(f"  - {d}")
print(f"\nLooked up by one tool only, or by neither ({len(one_sided)}):")
for d in one_sided:
    print(f"  - {d}")

profile = (work / "profile").read_text().strip()
print(f"\n== Time (ms), Canopy {profile} build. Renovate: whole process (npx, Node start-up, init) and its own"
      " extract+lookup split;\n   Canopy: whole process (cold scan+lookup, then a warm second"
      " pass) and the scan+lookup passes.")
print(f"{'fixture':<12} {'deps':>4} | {'Renovate cold':>13} {'extract+lookup':>14} "
      f"{'warm':>6} {'extract+lookup':>14} | {'Canopy proc':>11} {'cold':>6} {'warm':>6} "
      f"{'requests':<16} {'warm req':>8}")
for t in timings:
    print(f"{t[0]:<12} {t[1]:>4} | {t[2]:>13} {t[3]!s:>14} {t[4]:>6} {t[5]!s:>14} | "
          f"{t[6]:>11} {t[7]:>6} {t[8]:>6} {t[9]:<16} {t[10]:>8}")
PY
