//! `canopy-wasm-split INPUT.wasm OUT_DIR MAIN_OUT.wasm`: splits the browser bundle at its lazy
//! routes, the step `cargo-leptos --split` runs between the wasm32 build and wasm-bindgen.
//!
//! Writes into OUT_DIR the split-off chunks (`*.wasm`), the loader they are linked through
//! (`__wasm_split.______________________.js`, imported by the main module) and
//! `__wasm_split_manifest.json` (which chunks each lazy route needs: Leptos's
//! `HydrationScripts` reads it to preload them); writes the main module to MAIN_OUT.wasm, for
//! wasm-bindgen (`--keep-lld-exports --no-demangle`). Prints the chunk files, one per line.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{bail, Context, Result};

/// The name Leptos's `HydrationScripts` looks for when files are not hashed (scripts/build.sh
/// puts each bundle in its own hashed folder instead).
const LINK_NAME: &str = "./__wasm_split.______________________.js";
/// The module the loader imports `initSync` from: wasm-bindgen's output, beside it.
const MAIN_MODULE: &str = "./canopy.js";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out_dir, main_out] = args.as_slice() else {
        bail!("usage: canopy-wasm-split INPUT.wasm OUT_DIR MAIN_OUT.wasm");
    };
    let input_wasm = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let out_dir = PathBuf::from(out_dir);
    let main_out = PathBuf::from(main_out);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;

    let mut options = wasm_split_cli_support::Options::new(&input_wasm);
    options.output_dir = &out_dir;
    options.main_out_path = &main_out;
    options.main_module = MAIN_MODULE;
    options.link_name = LINK_NAME;
    let split = wasm_split_cli_support::transform(options)
        .map_err(|error| anyhow::anyhow!("{error:#}"))
        .context("splitting the wasm bundle")?;

    // Sorted, so the same input gives the same file (and the bundle's hash stays stable).
    let manifest: BTreeMap<_, _> = split.prefetch_map.into_iter().collect();
    let manifest_path = out_dir.join("__wasm_split_manifest.json");
    std::fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    for module in split.split_modules {
        println!("{}", module.display());
    }
    Ok(())
}
