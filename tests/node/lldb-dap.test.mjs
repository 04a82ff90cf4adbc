// lldb-dap (LLVM 22) attached to `wasmscope run --gdb-port`, driven by
// Microsoft's DAP test client as VS Code drives an adapter: the launch
// configuration the README documents for using lldb-dap instead of
// wasmscope's own adapter. Run by tests/node.rs; by hand:
//   WASMSCOPE=target/release/wasmscope node --test tests/node/lldb-dap.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import testsupport from "@vscode/debugadapter-testsupport";

const { DebugClient } = testsupport;
const binary = process.env.WASMSCOPE;
assert.ok(binary, "set WASMSCOPE to the wasmscope binary");
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dbg = join(root, "tests", "fixtures", "dbg");
const app = join(dbg, "app-O0.wasm");
const appSource = join(dbg, "app.c");
const lldbDap = join(root, "tests", "fixtures", "lang", "lldb-dap22");

/// Starts `wasmscope run --gdb-port 0 MODULE` and resolves with the
/// process and the address it listens on.
function serve(module) {
  const child = spawn(binary, ["run", "--gdb-port", "0", module], { stdio: ["ignore", "pipe", "pipe"] });
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (output.stdout += d));
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  const address = new Promise((resolve, reject) => {
    child.stderr.on("data", (d) => {
      output.stderr += d;
      const m = /waiting for a debugger on (\S+)/.exec(output.stderr);
      if (m) resolve(m[1]);
    });
    child.on("exit", () => reject(new Error(`wasmscope ended: ${output.stderr}`)));
  });
  return { child, output, exited, address };
}

test("lldb-dap attaches to --gdb-port: stop, frames, variables, continue, exit", async () => {
  // lldb-dap has, on a loaded machine, failed its attach without ever
  // connecting to the waiting stub (seen 3 times in about 60 runs, never
  // on an idle machine): that one failure is retried once, and said.
  for (let attempt = 1; ; attempt++) {
    const state = { connected: false };
    try {
      await scenario(state);
      return;
    } catch (e) {
      if (state.connected || attempt === 2) throw e;
      console.log(`# lldb-dap did not attach (${e?.message || e}); trying again`);
    }
  }
});

async function scenario(state) {
  const served = serve(app);
  const address = await served.address;
  const dc = new DebugClient("bash", lldbDap, "lldb-dap");
  dc.defaultTimeout = 30000;
  await dc.start();
  let passed = false;
  try {
    await dc.initializeRequest({ adapterID: "lldb-dap", linesStartAt1: true, columnsStartAt1: true, pathFormat: "path" });
    const attached = dc.attachRequest({
      program: app,
      attachCommands: [`process connect --plugin wasm connect://${address}`],
      sourceMap: [["/wasmscope-fixtures", dbg]],
    });
    // Its rejection is awaited below; until then it must not go unhandled.
    attached.catch(() => {});
    await dc.waitForEvent("initialized");
    state.connected = true;
    const set = await dc.setBreakpointsRequest({ source: { path: appSource }, breakpoints: [{ line: 21 }] });
    assert.equal(set.body.breakpoints.length, 1);
    // lldb-dap resumes the stopped guest once configured (no stopOnEntry):
    // it runs to the breakpoint.
    const stopped = dc.waitForEvent("stopped");
    await dc.configurationDoneRequest();
    await attached;
    assert.equal((await stopped).body.reason, "breakpoint");
    const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.match(frames[0].name, /area/);
    assert.equal(frames[0].line, 21);
    assert.equal(frames[0].source?.path, appSource);
    assert.match(frames[1].name, /main/);
    assert.equal(frames[1].line, 47);

    const scopes = (await dc.scopesRequest({ frameId: frames[0].id })).body.scopes;
    const locals = (await dc.variablesRequest({ variablesReference: scopes[0].variablesReference })).body.variables;
    const p = locals.find((v) => v.name === "p");
    assert.ok(p, JSON.stringify(locals));
    assert.ok(p.variablesReference > 0, JSON.stringify(p));
    const fields = (await dc.variablesRequest({ variablesReference: p.variablesReference })).body.variables;
    assert.deepEqual(
      fields.map((f) => [f.name, f.value]),
      [
        ["x", "3"],
        ["y", "4"],
      ],
    );
    const caller = (await dc.scopesRequest({ frameId: frames[1].id })).body.scopes;
    const mainLocals = (await dc.variablesRequest({ variablesReference: caller[0].variablesReference })).body.variables;
    assert.equal(mainLocals.find((v) => v.name === "argc")?.value, "1");

    // Run to the end.
    await dc.setBreakpointsRequest({ source: { path: appSource }, breakpoints: [] });
    const exited = dc.waitForEvent("exited");
    await dc.continueRequest({ threadId: 1 });
    const { body } = await exited;
    assert.equal(body.exitCode, 0);
    passed = true;
  } finally {
    await dc.stop().catch(() => {});
    // A stub still waiting for its debugger would keep the test (and
    // CI) waiting forever: the failure is reported instead.
    if (!passed) served.child.kill();
  }
  assert.equal(await served.exited, 0, served.output.stderr);
  assert.match(served.output.stdout, /area=12 sum=60/);
}
