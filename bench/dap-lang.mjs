// Debugger latency on the language corpus (tests/fixtures/lang, built by
// tests/fixtures/lang/build.sh into target/fixtures/lang), as an editor
// sees it, with the programs' `labels` container holding 100,000 strings
// (a Rust `Vec<String>`, a C++ `std::vector<std::string>`):
//   - launch to first stop: from the `launch` request to the `stopped`
//     event at `// STOP: main-all` (compile in debug mode, DWARF read,
//     breakpoint placed, the program run to it, 100,000 strings built);
//   - locals: the `variables` request of the Locals scope (every local
//     rendered through the formatters);
//   - page: the `variables` request of the container's first 100
//     children, as VS Code asks for a large indexed container.
// Prints medians over RUNS launches. Usage, after `cargo build --release`
// and `npm ci --prefix tests/node`:
//   node bench/dap-lang.mjs [RUNS]
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "tests", "node", "package.json"));
const { DebugClient } = require("@vscode/debugadapter-testsupport");
const binary = process.env.WASMSCOPE ?? join(root, "target", "release", "wasmscope");
const built = process.env.LANG_FIXTURES ?? join(root, "target", "fixtures", "lang");
const runs = Number(process.argv[2] ?? 10);
const elements = "100000";

const programs = [
  { name: "Rust Vec<String>", wasm: "rust-O0.wasm", source: "rust/inventory.rs" },
  { name: "C++ std::vector<std::string>", wasm: "cpp-O0.wasm", source: "cpp/inventory.cpp" },
];

function stopLine(source) {
  const lines = readFileSync(source, "utf8").split("\n");
  return lines.findIndex((l) => l.includes("// STOP: main-all") && !l.trimStart().startsWith("*")) + 1;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

for (const p of programs) {
  const source = join(root, "tests", "fixtures", "lang", p.source);
  const line = stopLine(source);
  const launch = [];
  const locals = [];
  const page = [];
  for (let i = 0; i < runs; i++) {
    const dc = new DebugClient(binary, "dap", "wasmscope");
    dc.defaultTimeout = 120000;
    await dc.start();
    try {
      let t0 = process.hrtime.bigint();
      await dc.hitBreakpoint({ program: join(built, p.wasm), args: [elements] }, { path: source, line });
      launch.push(ms(t0));
      const frame = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
      const scope = (await dc.scopesRequest({ frameId: frame.id })).body.scopes[0];
      t0 = process.hrtime.bigint();
      const vars = (await dc.variablesRequest({ variablesReference: scope.variablesReference })).body.variables;
      locals.push(ms(t0));
      const labels = vars.find((v) => v.name === "labels");
      if (labels?.value !== `size=${elements}`) throw new Error(`labels = ${labels?.value}`);
      t0 = process.hrtime.bigint();
      const children = (await dc.variablesRequest({ variablesReference: labels.variablesReference, start: 0, count: 100 })).body.variables;
      page.push(ms(t0));
      if (children.length !== 100 || children[99].value !== '"item-99"') {
        throw new Error(`page: ${children.length} children, last ${children.at(-1)?.value}`);
      }
    } finally {
      await dc.stop();
    }
  }
  console.log(
    `${p.name.padEnd(30)} launch to first stop ${median(launch).toFixed(0)} ms, ` +
      `locals ${median(locals).toFixed(1)} ms, first page of 100 ${median(page).toFixed(1)} ms ` +
      `(medians of ${runs})`,
  );
}
