#!/usr/bin/env python3
"""What a first page load downloads from a built bundle folder (scripts/build.sh), gzipped.

Also brotli, when the folder has .br copies (release builds): what browsers fetch over HTTPS.

Every visit fetches the JS glue (canopy.js), the split loader and the main wasm module; the page
being opened also needs its lazy route's view and the chunks the manifest lists for it. Prints
one line per route, heaviest first, then `first page load: N kB ...` for the heaviest route.
Usage: scripts/bundle-size.py SITE/pkg/HASH
"""
import json
import os
import sys


def sizes(folder, manifest, loader, ext):
    """(what every page loads, [(route modules' size, route)] heaviest first) in `ext` copies."""

    def size(name):
        return os.path.getsize(os.path.join(folder, name + ext))

    always = size("canopy.js") + size("canopy_bg.wasm") + sum(size(n) for n in loader)
    routes = sorted(
        ((sum(size(m + ".wasm") for m in modules), split) for split, modules in manifest.items()),
        reverse=True,
    )
    return always, routes


def main():
    folder = sys.argv[1]
    manifest_path = os.path.join(folder, "__wasm_split_manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    loader = [n for n in os.listdir(folder) if n.startswith("__wasm_split.") and n.endswith(".js")]
    always, routes = sizes(folder, manifest, loader, ".gz")
    brotli = os.path.exists(os.path.join(folder, "canopy_bg.wasm.br"))
    br_always, br_routes = sizes(folder, manifest, loader, ".br") if brotli else (0, [])
    br_of = {split: size for size, split in br_routes}
    for size, split in routes:
        name = split.strip("_").rsplit("_", 1)[0]
        br = f", brotli {(br_always + br_of[split]) / 1024:.0f} kB" if brotli else ""
        print(f"  {name}: {(always + size) / 1024:.0f} kB (route modules {size / 1024:.0f} kB{br})")
    heaviest = routes[0][0] if routes else 0
    br = f"; brotli {-(-(br_always + br_routes[0][0]) // 1024)} kB" if brotli and br_routes else ""
    print(
        f"first page load: {-(-(always + heaviest) // 1024)} kB gzipped of wasm + JS at most "
        f"(JS glue + loader + main module {always / 1024:.0f} kB, heaviest route {heaviest / 1024:.0f} kB{br})"
    )


if __name__ == "__main__":
    main()
