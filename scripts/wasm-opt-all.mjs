// `node scripts/wasm-opt-all.mjs BINARYEN_DIR FILE.wasm...`: what `wasm-opt -Oz --strip-debug
// --strip-producers` does, for every file in one process (binaryen from the npm registry,
// scripts/setup-wasm-opt.sh): starting binaryen's CLI once per module cost seconds each, for the
// tens of chunks a split bundle has. Rewrites each file in place; no name section is emitted.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [binaryenDir, ...files] = process.argv.slice(2);
const { default: binaryen } = await import(pathToFileURL(path.join(binaryenDir, "index.js")).href);

// The features the Rust wasm32 target emits (the module's target_features section says so, but
// wasm-bindgen's output may not carry it).
const F = binaryen.Features;
const features =
  F.MVP | F.BulkMemory | (F.BulkMemoryOpt ?? 0) | (F.CallIndirectOverlong ?? 0) | F.NontrappingFPToInt |
  F.SignExt | F.MutableGlobals | F.ReferenceTypes | F.Multivalue;
binaryen.setOptimizeLevel(2); // -Oz: -O2 passes ...
binaryen.setShrinkLevel(2); // ... tuned for size
binaryen.setDebugInfo(false);

let before = 0;
let after = 0;
for (const file of files) {
  const input = fs.readFileSync(file);
  const module = binaryen.readBinary(input);
  module.setFeatures(features);
  if (!module.validate()) throw new Error(`${file}: not a valid module before optimizing`);
  module.runPasses(["strip-debug", "strip-producers"]);
  module.optimize();
  const output = module.emitBinary();
  module.dispose();
  fs.writeFileSync(file, output);
  before += input.length;
  after += output.length;
}
console.log(`wasm-opt -Oz: ${files.length} modules, ${before} -> ${after} bytes`);
