// The language corpus (tests/fixtures/lang) as the client tests find it:
// sources in the checkout, programs where tests/fixtures/lang/build.sh put
// them (LANG_FIXTURES, by default target/fixtures/lang), and the lines
// their `// STOP: name` comments mark.
import assert from "node:assert/strict";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync, existsSync } from "node:fs";

export const binary = process.env.WASMSCOPE;
assert.ok(binary, "set WASMSCOPE to the wasmscope binary");
export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const built = process.env.LANG_FIXTURES ?? join(root, "target", "fixtures", "lang");
export const sources = join(root, "tests", "fixtures", "lang");

/// A built program's path; fails with what to run when it is missing.
export function program(name) {
  const path = join(built, name);
  assert.ok(existsSync(path), `${path} is missing: run tests/fixtures/lang/build.sh`);
  return path;
}

/// Every `// STOP: name` of a source: name -> line (header comments,
/// which quote the markers, left out).
export function stopLines(source) {
  const out = new Map();
  readFileSync(source, "utf8")
    .split("\n")
    .forEach((l, i) => {
      const m = l.match(/\/\/ STOP: ([\w-]+)\s*$/);
      if (m && !l.trimStart().startsWith("*")) out.set(m[1], i + 1);
    });
  return out;
}

/// The line of `// STOP: name` in a source.
export function stopLine(source, name) {
  const line = stopLines(source).get(name);
  assert.ok(line, `no STOP: ${name} in ${source}`);
  return line;
}
