// Verified breakpoints are hit, always: launches in a row of the Zig and
// Rust corpus programs (tests/fixtures/lang) through the DAP client while
// a parallel build loads every core (two compilers building the C++
// corpus program in a loop). Each launch sets a breakpoint on every
// `// STOP:` line and must stop at each, in the program's order, then
// exit 0. STRESS_RUNS launches per program (default 20; the proof
// ran 100):
//   WASMSCOPE=target/release/wasmscope STRESS_RUNS=100 \
//     node --test tests/node/stress.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawn } from "node:child_process";
import testsupport from "@vscode/debugadapter-testsupport";
import { binary, sources, program, stopLines } from "./corpus.mjs";

const { DebugClient } = testsupport;
const runs = Number(process.env.STRESS_RUNS ?? 20);

/// The stops of a default run, in order: `largest` twice (two instances),
/// `factorial`'s base case, the method three times, then main.
const ORDER = ["generic", "generic", "recurse", "method", "method", "method", "main-all"];

/// A parallel build: compilers of the C++ program at -O2, one per core,
/// each started again as soon as it ends, until `stop()`.
function load() {
  const dir = mkdtempSync(join(tmpdir(), "wasmscope-load-"));
  let running = true;
  const children = new Set();
  const start = (i) => {
    if (!running) return;
    const c = spawn(
      "python3",
      ["-m", "ziglang", "c++", "-target", "wasm32-wasi", "-fno-exceptions", "-O2", "-g", "-o", join(dir, `load${i}.wasm`), join(sources, "cpp", "inventory.cpp")],
      { stdio: "ignore" },
    );
    children.add(c);
    c.on("exit", () => {
      children.delete(c);
      start(i);
    });
  };
  start(0);
  start(1);
  return () => {
    running = false;
    for (const c of children) c.kill();
    rmSync(dir, { recursive: true, force: true });
  };
}

for (const [name, wasm, file] of [
  ["Zig", "zig-Debug.wasm", join(sources, "zig", "inventory.zig")],
  ["Rust", "rust-O0.wasm", join(sources, "rust", "inventory.rs")],
]) {
  test(`${name}: ${runs} launches under load, every verified breakpoint hit`, { timeout: 3_600_000 }, async () => {
    const module = program(wasm);
    const lines = stopLines(file);
    const byLine = new Map([...lines].map(([k, v]) => [v, k]));
    const stopLoad = load();
    try {
      for (let run = 0; run < runs; run++) {
        const dc = new DebugClient(binary, "dap", "wasmscope");
        dc.defaultTimeout = 60000;
        await dc.start();
        try {
          const exited = dc.waitForEvent("exited", 120000);
          const seen = [];
          const stopped = () =>
            dc.waitForEvent("stopped").then(async () => {
              const top = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
              seen.push(byLine.get(top.line) ?? `line ${top.line}`);
            });
          await Promise.all([
            dc.waitForEvent("initialized").then(async () => {
              const r = await dc.setBreakpointsRequest({
                source: { path: file },
                breakpoints: [...lines.values()].map((line) => ({ line })),
              });
              for (const bp of r.body.breakpoints) {
                assert.equal(bp.verified, true, JSON.stringify(bp));
              }
              await dc.configurationDoneRequest();
            }),
            dc.launch({ program: module }),
            stopped(),
          ]);
          for (let i = 1; i < ORDER.length; i++) {
            await Promise.all([dc.continueRequest({ threadId: 1 }), stopped()]);
          }
          await dc.continueRequest({ threadId: 1 });
          assert.equal((await exited).body.exitCode, 0);
          assert.deepEqual(seen, ORDER, `launch ${run}`);
        } finally {
          await dc.stop();
        }
      }
    } finally {
      stopLoad();
    }
  });
}
