// Load a document written by `branchline doc export` with the JavaScript automerge
// and print what it holds, as JSON, for the Rust test to compare.
import { readFileSync } from "node:fs";
import * as Automerge from "@automerge/automerge";

const [file] = process.argv.slice(2);
if (!file) {
  console.error("usage: node load.mjs FILE");
  process.exit(2);
}
const doc = Automerge.load(new Uint8Array(readFileSync(file)));
const out = { doc: doc._doc, heads: Automerge.getHeads(doc).sort(), collections: {} };
for (const [name, value] of Object.entries(doc)) {
  if (name !== "_doc" && value && typeof value === "object") {
    out.collections[name] = Object.keys(value).sort();
  }
}
console.log(JSON.stringify(out));
