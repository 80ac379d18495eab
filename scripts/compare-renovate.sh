#!/usr/bin/env bash
# Runs Renovate's own lookup and Canopy's on the same fixture repositories and prints, per
# dependency, whether they agree on the newest version and the update type, every disagreement,
# and the two tools' times side by side. Not part of `make test`: it asks the real npm and PyPI
# registries (the only ones Renovate can reach from the build machine) and downloads Renovate.
#   scripts/compare-renovate.sh [fixture dir ...]   (default: drift/tests/fixtures/renovate/*)
# Needs Node 20 (npx) and python3. Results are recorded in docs/DRIFT.md.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

RENOVATE="${RENOVATE:-renovate@39}"
repos=("$@")
[ ${#repos[@]} -gt 0 ] || repos=(drift/tests/fixtures/renovate/*/)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "Building Canopy's lookup example"
cargo build -q -p canopy-drift --example lookup
lookup="${CARGO_TARGET_DIR:-target}/debug/examples/lookup"

for repo in "${repos[@]}"; do
    name="$(basename "$repo")"
    step "$name: Renovate ($RENOVATE, --platform=local --dry-run=lookup)"
    # Renovate's local platform reads the working directory; give it a git repository of its own.
    copy="$work/$name"
    cp -r "$repo" "$copy"
    git -C "$copy" init -q && git -C "$copy" add -A && \
        git -C "$copy" -c user.email=c@example.test -c user.name=compare commit -qm fixture
    start=$(date +%s%N)
    (cd "$copy" && LOG_LEVEL=debug LOG_FORMAT=json RENOVATE_ONBOARDING=false \
        RENOVATE_REQUIRE_CONFIG=optional RENOVATE_ENABLED_MANAGERS='["npm","pip_requirements"]' \
        npx -y "$RENOVATE" --platform=local --dry-run=lookup >"$work/$name.renovate.log" 2>&1) || {
        tail -20 "$work/$name.renovate.log" >&2; die "Renovate failed on $name"; }
    renovate_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    step "$name: Canopy (cargo run -p canopy-drift --example lookup)"
    start=$(date +%s%N)
    "$lookup" "$copy" --only npm,pypi >"$work/$name.canopy.json" 2>"$work/$name.canopy.err"
    canopy_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "$name $renovate_ms $canopy_ms" >>"$work/times"
done

python3 - "$work" <<'PY'
import json, pathlib, sys

work = pathlib.Path(sys.argv[1])
ORDER = {"major": 3, "minor": 2, "patch": 1}

def renovate_deps(log):
    """depName -> (newest version, update type) from Renovate's 'packageFiles with updates'."""
    config = None
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "packageFiles with updates":
            config = entry.get("config")
    if config is None:
        raise SystemExit(f"{log}: Renovate printed no 'packageFiles with updates'")
    deps = {}
    for manager, files in config.items():
        for package_file in files:
            for dep in package_file.get("deps", []):
                if dep.get("skipReason"):
                    continue
                updates = [u for u in dep.get("updates", [])
                           if u.get("updateType") in ORDER and u.get("newVersion")]
                if updates:
                    best = max(updates, key=lambda u: (ORDER[u["updateType"]], u["newVersion"]))
                    deps[dep["depName"].lower()] = (best["newVersion"], best["updateType"])
                else:
                    deps[dep["depName"].lower()] = (None, None)
    return deps

total = agree = 0
disagreements = []
for times in (work / "times").read_text().splitlines():
    name, renovate_ms, canopy_ms = times.split()
    renovate = renovate_deps(work / f"{name}.renovate.log")
    canopy = {d["name"].lower(): d for d in json.loads((work / f"{name}.canopy.json").read_text())}
    print(f"\n{name}: {'dependency':<22} {'Renovate':<24} {'Canopy':<24} agree")
    for dep in sorted(set(renovate) | set(canopy)):
        r = renovate.get(dep)
        c = canopy.get(dep)
        r_text = "missing" if r is None else (f"{r[0]} ({r[1]})" if r[0] else "up to date")
        if c is None:
            c_text, c_pair = "missing", None
        elif c["status"] == "outdated":
            c_text, c_pair = f"{c['newest']} ({c['update_type']})", (c["newest"], c["update_type"])
        elif c["status"] == "up_to_date":
            c_text, c_pair = "up to date", (None, None)
        else:
            c_text, c_pair = c["status"], ("?", c["status"])
        same = r is not None and c_pair == r
        total += 1
        agree += same
        if not same:
            disagreements.append(f"{name}/{dep}: Renovate {r_text}, Canopy {c_text}")
        print(f"{name}: {dep:<22} {r_text:<24} {c_text:<24} {'yes' if same else 'NO'}")
    print(f"{name}: lookup time: Renovate {int(renovate_ms)} ms (whole run, incl. start-up), "
          f"Canopy {int(canopy_ms)} ms (scan + lookup, cold cache)")

print(f"\nAgreement on newest version and update type: {agree}/{total}"
      f" = {100.0 * agree / max(total, 1):.1f} %")
if disagreements:
    print("Disagreements:")
    for d in disagreements:
        print(f"  - {d}")
PY
