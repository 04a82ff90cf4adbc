// End-to-end tests of `wasmscope dap` through Microsoft's DAP test client
// (@vscode/debugadapter-testsupport's DebugClient), as VS Code drives an
// adapter. Run by tests/dap.rs with WASMSCOPE set to the binary; by hand:
//   WASMSCOPE=target/release/wasmscope node --test tests/node/dap.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import testsupport from "@vscode/debugadapter-testsupport";

const { DebugClient } = testsupport;
const binary = process.env.WASMSCOPE;
assert.ok(binary, "set WASMSCOPE to the wasmscope binary");
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const fixtures = join(root, "tests", "fixtures");
const app = join(fixtures, "dbg", "app-O0.wasm");
const appSource = join(fixtures, "dbg", "app.c");

async function client() {
  const dc = new DebugClient(binary, "dap", "wasmscope");
  dc.defaultTimeout = 30000;
  await dc.start();
  return dc;
}

test("line breakpoint, locals, stepping, output and exit code", async () => {
  const dc = await client();
  try {
    // Stops on app.c:21 (in `area`), as VS Code would see it.
    await dc.hitBreakpoint({ program: app }, { path: appSource, line: 21 });
    const stack = await dc.stackTraceRequest({ threadId: 1 });
    const [top, caller] = stack.body.stackFrames;
    assert.equal(top.name, "area");
    assert.equal(caller.line, 47);
    assert.match(top.instructionPointerReference, /^0x[0-9a-f]+$/);

    const scopes = await dc.scopesRequest({ frameId: top.id });
    const vars = await dc.variablesRequest({ variablesReference: scopes.body.scopes[0].variablesReference });
    assert.ok(vars.body.variables.length >= 1, JSON.stringify(vars.body));

    // Step over to line 22, then out to the caller.
    await dc.setBreakpointsRequest({ source: { path: appSource }, breakpoints: [] });
    await Promise.all([dc.nextRequest({ threadId: 1 }), dc.assertStoppedLocation("step", { line: 22 })]);
    await Promise.all([dc.stepOutRequest({ threadId: 1 }), dc.assertStoppedLocation("step", { line: 47 })]);

    // Run to the end: the guest's output, then its exit code.
    const output = dc.assertOutput("stdout", "area=12 sum=60");
    const exited = dc.waitForEvent("exited");
    const terminated = dc.waitForEvent("terminated");
    await dc.continueRequest({ threadId: 1 });
    await output;
    assert.equal((await exited).body.exitCode, 0);
    await terminated;
  } finally {
    await dc.stop();
  }
});

test("function breakpoints, unverified lines and step in", async () => {
  const dc = await client();
  try {
    await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        const fb = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: "factorial" }, { name: "nope" }] });
        assert.deepEqual(fb.body.breakpoints.map((b) => b.verified), [true, false]);
        const lb = await dc.setBreakpointsRequest({
          source: { path: appSource },
          breakpoints: [{ line: 24 }, { line: 999 }, { line: 51 }],
        });
        const [moved, nowhere, call] = lb.body.breakpoints;
        assert.equal(moved.verified, true);
        assert.equal(moved.line, 25, "a blank line moves to the next line with code");
        assert.equal(nowhere.verified, false);
        assert.match(nowhere.message, /no code/);
        assert.equal(call.line, 51);
        await dc.configurationDoneRequest();
      }),
      dc.launch({ program: app }),
      dc.assertStoppedLocation("breakpoint", { path: appSource, line: 51 }),
    ]);
    await Promise.all([dc.stepInRequest({ threadId: 1 }), dc.assertStoppedLocation("step", {})]);
    const stack = await dc.stackTraceRequest({ threadId: 1 });
    assert.equal(stack.body.stackFrames[0].name, "sum_list");
    await Promise.all([dc.continueRequest({ threadId: 1 }), dc.assertStoppedLocation("breakpoint", {})]);
    const again = await dc.stackTraceRequest({ threadId: 1 });
    assert.equal(again.body.stackFrames[0].name, "factorial");
  } finally {
    await dc.stop();
  }
});

test("pause an endless loop, traps, bad requests", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasmscope-dap-"));
  const spin = join(dir, "spin.wat");
  writeFileSync(spin, '(module (func (export "_start") (loop $l (br $l))))');
  let dc = await client();
  try {
    await Promise.all([dc.configurationSequence(), dc.launch({ program: spin })]);
    await new Promise((r) => setTimeout(r, 100));
    await Promise.all([dc.pauseRequest({ threadId: 1 }), dc.assertStoppedLocation("pause", {})]);
    // Unknown and malformed requests get error responses; the adapter lives.
    await assert.rejects(dc.customRequest("noSuchRequest", {}), /unsupported request/);
    await assert.rejects(dc.setBreakpointsRequest({}), /source.path/);
    const threads = await dc.threadsRequest();
    assert.equal(threads.body.threads.length, 1);
  } finally {
    await dc.stop();
  }
  dc = await client();
  try {
    const trapped = dc.assertOutput("stderr", "wasm trap: integer divide by zero");
    const exited = dc.waitForEvent("exited");
    await Promise.all([dc.configurationSequence(), dc.launch({ program: join(fixtures, "trap.wasm") })]);
    await trapped;
    assert.equal((await exited).body.exitCode, 134);
  } finally {
    await dc.stop();
  }
  dc = await client();
  try {
    await assert.rejects(dc.launch({ program: join(dir, "missing.wasm") }), /missing.wasm/);
  } finally {
    await dc.stop();
  }
});
