// Debugger latency through the DAP server, as an editor sees it, on the
// real-size fixture built with -g -O0 (target/fixtures/zstd-g.wasm, about
// 5 MB, most of it DWARF; tests/fixtures/real/build.sh builds it):
//   - launch to first stop: from the `launch` request to the `stopped`
//     event of a breakpoint on main's first statement (compile in debug
//     mode, DWARF read, breakpoint placed, guest run to it), cold (launch
//     attribute `cache: false`: Cranelift runs every launch) and warm
//     (the compiled-code cache holds the module: the editor's relaunch);
//   - step: `next` request to `stopped` event, stepping through the
//     decompression loop of the driver (lines 53-57), which includes
//     stepping over calls into the library.
// Prints medians (and the slowest step). Usage, after
// `cargo build --release` and `npm ci --prefix tests/node`:
//   node bench/dap.mjs [RUNS]
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "tests", "node", "package.json"));
const { DebugClient } = require("@vscode/debugadapter-testsupport");
const binary = process.env.WASMSCOPE ?? join(root, "target", "release", "wasmscope");
const program = join(root, "target", "fixtures", "zstd-g.wasm");
const source = join(root, "tests", "fixtures", "real", "zstd_driver.c");
const runs = Number(process.argv[2] ?? 5);

const dir = mkdtempSync(join(tmpdir(), "wasmscope-bench-"));
const input = join(dir, "input.txt");
writeFileSync(input, "the quick brown fox jumps over the lazy dog\n".repeat(2000));
const cacheDir = join(dir, "code-cache");
const launchArgs = { program, args: [input, dir, "3"], dirs: [dir], cache: cacheDir };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function session(line, extra = {}) {
  const dc = new DebugClient(binary, "dap", "wasmscope");
  dc.defaultTimeout = 120000;
  await dc.start();
  const t0 = performance.now();
  await Promise.all([
    dc.waitForEvent("initialized").then(async () => {
      await dc.setBreakpointsRequest({ source: { path: source }, breakpoints: [{ line }] });
      await dc.configurationDoneRequest();
    }),
    dc.launch({ ...launchArgs, ...extra }),
    dc.waitForEvent("stopped"),
  ]);
  return { dc, ms: performance.now() - t0 };
}

async function launchToStop(extra) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const { dc, ms } = await session(33, extra);
    times.push(ms);
    await dc.stop();
  }
  return times;
}
const cold = await launchToStop({ cache: false });
await launchToStop({}); // fills the cache
const warm = await launchToStop({});

const steps = [];
for (let i = 0; i < runs; i++) {
  const { dc } = await session(53);
  await dc.setBreakpointsRequest({ source: { path: source }, breakpoints: [] });
  for (let k = 0; k < 20; k++) {
    const t0 = performance.now();
    await Promise.all([dc.nextRequest({ threadId: 1 }), dc.waitForEvent("stopped")]);
    steps.push(performance.now() - t0);
  }
  await dc.stop();
}

console.log(`module: ${program}`);
console.log(`launch to first stop, cold (no cache): median ${median(cold).toFixed(1)} ms over ${runs} runs`);
console.log(`launch to first stop, warm cache:      median ${median(warm).toFixed(1)} ms over ${runs} runs`);
console.log(
  `step (next) in the decompression loop: median ${median(steps).toFixed(2)} ms, slowest ${Math.max(...steps).toFixed(1)} ms over ${steps.length} steps`,
);
rmSync(dir, { recursive: true, force: true });
