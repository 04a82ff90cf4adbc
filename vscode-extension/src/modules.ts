// Which module a file stands for: a `.wasm` or `.wat` is one; a C, C++ or
// Rust source stands for the `.wasm` built from it beside it. Pure (node
// only).
import * as fs from "node:fs";
import * as path from "node:path";

export const MODULE_EXTENSIONS = [".wasm", ".wat"];
export const SOURCE_EXTENSIONS = [".c", ".cc", ".cpp", ".cxx", ".h", ".hpp", ".rs"];

export function isModule(file: string): boolean {
  return MODULE_EXTENSIONS.includes(path.extname(file).toLowerCase());
}

export function isSource(file: string): boolean {
  return SOURCE_EXTENSIONS.includes(path.extname(file).toLowerCase());
}

/**
 * The `.wasm` files beside `source` built from it, best first: `app.wasm`
 * for `app.c`, else every `app-*.wasm`, `app_*.wasm` and `app.*.wasm`
 * (`app-O0.wasm`, `app.debug.wasm`), sorted by name.
 */
export function siblingModules(source: string, readdir: (dir: string) => string[] = fs.readdirSync): string[] {
  const dir = path.dirname(source);
  const stem = path.basename(source, path.extname(source));
  let names: string[];
  try {
    names = readdir(dir);
  } catch {
    return [];
  }
  const exact = `${stem}.wasm`;
  if (names.includes(exact)) {
    return [path.join(dir, exact)];
  }
  return names
    .filter(
      (n) =>
        n.toLowerCase().endsWith(".wasm") &&
        n.length > stem.length + 5 &&
        n.startsWith(stem) &&
        "-_.".includes(n.charAt(stem.length)),
    )
    .sort()
    .map((n) => path.join(dir, n));
}

/**
 * The module a launch configuration's `program` names once variables are
 * substituted: a source file (`${file}` on `app.c`) becomes its sibling
 * `.wasm`; the path of a disassembly (`app.wasm.wat`, which is not on disk)
 * becomes the `.wasm`. Returns the candidates, best first.
 */
export function programCandidates(
  program: string,
  exists: (file: string) => boolean = fs.existsSync,
  readdir?: (dir: string) => string[],
): string[] {
  if (isSource(program)) {
    return siblingModules(program, readdir);
  }
  if (program.toLowerCase().endsWith(".wasm.wat") && !exists(program)) {
    return [program.slice(0, -".wat".length)];
  }
  return [program];
}
