// End-to-end tests of `wasmscope dap` through Microsoft's DAP test client
// (@vscode/debugadapter-testsupport's DebugClient), as VS Code drives an
// adapter. Run by tests/node.rs with WASMSCOPE set to the binary; by hand:
//   WASMSCOPE=target/release/wasmscope node --test tests/node/dap.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import testsupport from "@vscode/debugadapter-testsupport";

/// A fresh directory for one test, removed when the test ends.
function scratch(t, prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const { DebugClient } = testsupport;
const binary = process.env.WASMSCOPE;
assert.ok(binary, "set WASMSCOPE to the wasmscope binary");
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const fixtures = join(root, "tests", "fixtures");
const app = join(fixtures, "dbg", "app-O0.wasm");
const appSource = join(fixtures, "dbg", "app.c");
/** The 1-based line of app.c holding `text`. */
const appLine = (text) => readFileSync(appSource, "utf8").split("\n").findIndex((l) => l.includes(text)) + 1;

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
    // Selecting the caller's frame shows its own variables and evaluates in it.
    const callerScopes = (await dc.scopesRequest({ frameId: caller.id })).body.scopes;
    assert.equal(callerScopes[0].name, "Locals");
    const callerVars = (await dc.variablesRequest({ variablesReference: callerScopes[0].variablesReference })).body.variables;
    assert.equal(callerVars.find((v) => v.name === "p")?.value, "{x: 3, y: 4}");
    const inCaller = await dc.evaluateRequest({ expression: "p.x + p.y", frameId: caller.id, context: "watch" });
    assert.equal(inCaller.body.result, "7");

    // Step over to line 22, then out to the caller.
    await dc.setBreakpointsRequest({ source: { path: appSource }, breakpoints: [] });
    // Each step's response comes before its stop: VS Code marks the thread
    // running on the response, so a stop written earlier would be lost.
    for (const [request, line] of [[() => dc.nextRequest({ threadId: 1 }), 22], [() => dc.stepOutRequest({ threadId: 1 }), 47]]) {
      const [response, stopped] = await Promise.all([request(), dc.waitForEvent("stopped")]);
      assert.ok(stopped.seq > response.seq, `stopped (seq ${stopped.seq}) before the response (seq ${response.seq})`);
      assert.equal((await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0].line, line);
    }

    // Run to the end: the guest's output, then its exit code, said in the
    // Debug Console (VS Code shows nothing for the exited event).
    const output = dc.assertOutput("stdout", "area=12 sum=60");
    const exitLine = consoleLine(dc, "Program exited with code 0.");
    const exited = dc.waitForEvent("exited");
    const terminated = dc.waitForEvent("terminated");
    await dc.continueRequest({ threadId: 1 });
    await output;
    await exitLine;
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
    // Past the prologue, on the body's first line, as gdb's `step` stops
    // (not on the function's opening line; found by the debugger
    // differential).
    assert.equal(stack.body.stackFrames[0].line, 26);
    await Promise.all([dc.continueRequest({ threadId: 1 }), dc.assertStoppedLocation("breakpoint", {})]);
    const again = await dc.stackTraceRequest({ threadId: 1 });
    assert.equal(again.body.stackFrames[0].name, "factorial");
    // Where the body starts (the line table's prologue_end), as gdb's
    // `break factorial` stops: not the opening line, where the frame is
    // not set up yet (found by the debugger differential, csmith seed 0).
    assert.equal(again.body.stackFrames[0].line, 35);
  } finally {
    await dc.stop();
  }
});

test("-O2: a function breakpoint stops in the inlined copy, which is a frame of its own; exactLocals", async () => {
  // clang inlines sum_list into main at -O2: gdb and lldb stop there on
  // `break sum_list` and show sum_list and main as two frames, each with
  // its own variables (found by the debugger differential: the adapter
  // never stopped in a csmith program's inlined func_1, and showed its
  // lines as main's).
  const appO2 = join(fixtures, "dbg", "app-O2.wasm");
  const wasmLocals = async (dc) => {
    const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    const outer = frames.find((f) => f.name === "__main_void");
    assert.ok(outer, JSON.stringify(frames));
    const scope = (await dc.scopesRequest({ frameId: outer.id })).body.scopes.find((s) => s.name === "Wasm locals");
    return (await dc.variablesRequest({ variablesReference: scope.variablesReference })).body.variables;
  };
  for (const exactLocals of [false, true]) {
    const dc = await client();
    try {
      await Promise.all([
        dc.waitForEvent("initialized").then(async () => {
          const fb = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: "sum_list" }] });
          assert.equal(fb.body.breakpoints[0].verified, true);
          await dc.configurationDoneRequest();
        }),
        dc.launch({ program: appO2, exactLocals }),
        dc.assertStoppedLocation("breakpoint", {}),
      ]);
      const [inlined, caller] = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
      assert.equal(inlined.name, "sum_list");
      assert.ok(inlined.line >= 26 && inlined.line <= 31, `line ${inlined.line}`);
    assert.equal(caller.name, "main");
      assert.equal(caller.line, 51, "the caller's frame is at the call");
      const names = async (frame) => {
        const scope = (await dc.scopesRequest({ frameId: frame.id })).body.scopes[0];
        assert.equal(scope.name, "Locals");
        const vars = (await dc.variablesRequest({ variablesReference: scope.variablesReference })).body.variables;
        return Object.fromEntries(vars.map((v) => [v.name, v.value]));
      };
      assert.deepEqual(Object.keys(await names(inlined)), ["head", "total"]);
      const mainVars = await names(caller);
      assert.equal(mainVars.a, "12");
      assert.ok(!("total" in mainVars), JSON.stringify(mainVars));
      const a = await dc.evaluateRequest({ expression: "a", frameId: caller.id, context: "watch" });
      assert.equal(a.body.result, "12");
      await assert.rejects(dc.evaluateRequest({ expression: "a", frameId: inlined.id, context: "watch" }));
      // The caller's wasm locals: where the optimized code keeps them by
      // default (here: nowhere it still needs), every one with exactLocals.
      const locals = await wasmLocals(dc);
      const unavailable = locals.filter((v) => v.value.includes("optimized out")).length;
      if (exactLocals) {
        assert.equal(unavailable, 0, JSON.stringify(locals));
      } else {
        assert.ok(unavailable > 0, JSON.stringify(locals));
      }
      // Step Out of the inlined frame returns to main (the same wasm
      // frame), as gdb's `finish` does, instead of running out of main.
      await Promise.all([dc.stepOutRequest({ threadId: 1 }), dc.assertStoppedLocation("step", {})]);
      const out = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
      assert.equal(out[0].name, "main", JSON.stringify(out.slice(0, 2)));
    } finally {
      await dc.stop();
    }
  }
});

test("-O2: a variable clang keeps on the operand stack reads; one its DWARF pieces describe in part shows the rest optimized out", async () => {
  // `uint8_t bytes[9][1]` described by its first byte only: the other
  // elements are not zeros (found by the debugger differential). `t` is
  // `DW_OP_WASM_location 0x2 0x1`: entry 1 of the operand stack.
  const dc = await client();
  try {
    const source = join(fixtures, "dbg", "optimized.c");
    const line = readFileSync(source, "utf8").split("\n").findIndex((l) => l.includes("return t + observe")) + 1;
    await dc.hitBreakpoint({ program: join(fixtures, "dbg", "optimized-O2.wasm") }, { path: source, line });
    const frame = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    const bytes = await dc.evaluateRequest({ expression: "bytes", frameId: frame.id, context: "watch" });
    const rows = (await dc.variablesRequest({ variablesReference: bytes.body.variablesReference })).body.variables;
    assert.equal(rows.length, 9);
    assert.notEqual(rows[0].value, "<optimized out>", JSON.stringify(rows[0]));
    for (const row of rows.slice(1)) {
      assert.equal(row.value, "<optimized out>", JSON.stringify(rows));
    }
    const t = await dc.evaluateRequest({ expression: "t", frameId: frame.id, context: "watch" });
    assert.equal(t.body.result, "4");
    // The stack itself: observe(1)'s result, then the argument of the
    // next call, 0xC9.
    const scopes = (await dc.scopesRequest({ frameId: frame.id })).body.scopes;
    const stack = scopes.find((s) => s.name === "Operand stack") ?? assert.fail(JSON.stringify(scopes));
    const entries = (await dc.variablesRequest({ variablesReference: stack.variablesReference })).body.variables;
    assert.deepEqual(
      entries.slice(1).map((e) => [e.name, e.value, e.type]),
      [["[1]", "4", "i32"], ["[2]", "201", "i32"]],
      JSON.stringify(entries),
    );
  } finally {
    await dc.stop();
  }
});

test("-O2: a caller's operand stack shows below its call's arguments", async () => {
  // Stopped in observe(201): its caller (pieces, inlined into main) has
  // observe(1)'s result, t = 4, at entry 1 below the call's argument.
  const dc = await client();
  try {
    const source = join(fixtures, "dbg", "optimized.c");
    const line = readFileSync(source, "utf8").split("\n").findIndex((l) => l.includes("return v * 3 + 1")) + 1;
    await dc.hitBreakpoint({ program: join(fixtures, "dbg", "optimized-O2.wasm") }, { path: source, line });
    await Promise.all([dc.continueRequest({ threadId: 1 }), dc.waitForEvent("stopped")]);
    const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.equal(frames[1].name.startsWith("pieces"), true, JSON.stringify(frames));
    const v = await dc.evaluateRequest({ expression: "v", frameId: frames[0].id, context: "watch" });
    assert.equal(v.body.result, "201");
    const scopes = (await dc.scopesRequest({ frameId: frames[1].id })).body.scopes;
    const stack = scopes.find((s) => s.name === "Operand stack") ?? assert.fail(JSON.stringify(scopes));
    const entries = (await dc.variablesRequest({ variablesReference: stack.variablesReference })).body.variables;
    assert.deepEqual(
      entries.slice(1).map((e) => [e.name, e.value, e.type]),
      [["[1]", "4", "i32"]],
      JSON.stringify(entries),
    );
  } finally {
    await dc.stop();
  }
});

test("a struct argument passed by value reads at -O0", async () => {
  // wasm32 passes it as a pointer in a local that the code no longer
  // needs once copied: the adapter keeps every local a DWARF location
  // names (found by the debugger differential on a csmith program).
  const dc = await client();
  try {
    await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        const source = join(fixtures, "dbg", "kinds.c");
        const line = readFileSync(source, "utf8").split("\n").findIndex((l) => l.includes("width += 1;")) + 1;
        await dc.setBreakpointsRequest({ source: { path: source }, breakpoints: [{ line }] });
        await dc.configurationDoneRequest();
      }),
      dc.launch({ program: join(fixtures, "dbg", "kinds-O0.wasm") }),
      dc.assertStoppedLocation("breakpoint", {}),
    ]);
    const frame = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(frame.name, "span");
    const scope = (await dc.scopesRequest({ frameId: frame.id })).body.scopes[0];
    const vars = (await dc.variablesRequest({ variablesReference: scope.variablesReference })).body.variables;
    const p = vars.find((v) => v.name === "p");
    assert.ok(p.variablesReference > 0, JSON.stringify(p));
    const fields = (await dc.variablesRequest({ variablesReference: p.variablesReference })).body.variables;
    assert.deepEqual(
      fields.map((f) => `${f.name}=${f.value}`),
      ["lo=184", "hi=11"],
    );
  } finally {
    await dc.stop();
  }
});

test("pause an endless loop, traps, bad requests", async (t) => {
  const dir = scratch(t, "wasmscope-dap-");
  const spin = join(dir, "spin.wat");
  writeFileSync(spin, '(module (func (export "_start") (loop $l (br $l))))');
  let dc = await client();
  try {
    await Promise.all([dc.configurationSequence(), dc.launch({ program: spin })]);
    await new Promise((r) => setTimeout(r, 100));
    // A step while it runs is refused: queued, it once took the next stop
    // and left Stop waiting forever (found by the protocol fuzzer).
    await assert.rejects(dc.stepInRequest({ threadId: 1 }), /running/);
    await Promise.all([dc.pauseRequest({ threadId: 1 }), dc.assertStoppedLocation("pause", {})]);
    // A pause right behind a continue stops the guest every time (the
    // guest once cleared it while leaving its stop; found by the protocol
    // fuzzer as a Stop that never returned).
    for (let i = 0; i < 20; i++) {
      await Promise.all([
        dc.continueRequest({ threadId: 1 }),
        dc.pauseRequest({ threadId: 1 }),
        dc.assertStoppedLocation("pause", {}),
      ]);
    }
    // Unknown and malformed requests get error responses; the adapter lives.
    await assert.rejects(dc.customRequest("noSuchRequest", {}), /unsupported request/);
    await assert.rejects(dc.setBreakpointsRequest({}), /source.path/);
    const threads = await dc.threadsRequest();
    assert.equal(threads.body.threads.length, 1);
    // Stop (terminate): a plain console line, no trap trace on stderr.
    let stderr = "";
    dc.on("output", (e) => {
      if (e.body.category === "stderr") stderr += e.body.output;
    });
    const stoppedLine = consoleLine(dc, "Program stopped by the debugger.");
    const terminated = dc.waitForEvent("terminated");
    await dc.terminateRequest({});
    await stoppedLine;
    await terminated;
    assert.equal(stderr, "");
  } finally {
    await dc.stop();
  }
  dc = await client();
  try {
    const trapped = dc.assertOutput("stderr", "wasm trap: integer divide by zero");
    const trappedLine = consoleLine(dc, "Program trapped (exit code 134).");
    const exited = dc.waitForEvent("exited");
    await Promise.all([dc.configurationSequence(), dc.launch({ program: join(fixtures, "trap.wasm") })]);
    await trapped;
    assert.equal((await exited).body.exitCode, 134);
    await trappedLine;
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

test("scopes, source variables, evaluate, set variable, memory, conditions and logpoints", async () => {
  const dc = await client();
  try {
    await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        await dc.setBreakpointsRequest({
          source: { path: appSource },
          breakpoints: [
            // Stops only in the second pass through the loop.
            { line: 28, condition: "head->value == 20" },
            // Prints instead of stopping.
            { line: 35, logMessage: "factorial({n})" },
          ],
        });
        await dc.configurationDoneRequest();
      }),
      dc.launch({ program: app }),
      dc.assertStoppedLocation("breakpoint", { path: appSource, line: 28 }),
    ]);
    const stack = await dc.stackTraceRequest({ threadId: 1 });
    const scopes = (await dc.scopesRequest({ frameId: stack.body.stackFrames[0].id })).body.scopes;
    assert.deepEqual(
      scopes.map((s) => s.name),
      ["Locals", "Wasm locals", "Operand stack", "Globals", "Wasm globals", "Tables", "Memory"],
    );
    const locals = (await dc.variablesRequest({ variablesReference: scopes[0].variablesReference })).body.variables;
    const byName = (vars, name) => vars.find((v) => v.name === name) ?? assert.fail(`${name} in ${JSON.stringify(vars)}`);
    assert.equal(byName(locals, "total").value, "10");
    const head = byName(locals, "head");
    assert.equal(head.type, "struct node *");
    assert.match(head.memoryReference, /^0x[0-9a-f]+$/);
    // Expanding the pointer shows the node; `next` expands again.
    const node = (await dc.variablesRequest({ variablesReference: head.variablesReference })).body.variables;
    assert.equal(byName(node, "value").value, "20");
    const next = (await dc.variablesRequest({ variablesReference: byName(node, "next").variablesReference })).body.variables;
    assert.equal(byName(next, "value").value, "30");

    // Hover, watch and repl evaluate C-like expressions.
    const ev = async (expression, context = "watch") =>
      (await dc.evaluateRequest({ expression, frameId: 0, context })).body;
    assert.equal((await ev("head->next->value * 2", "hover")).result, "60");
    assert.equal((await ev("global_counter")).result, "7");
    assert.equal((await ev("(char)65", "repl")).result, "65");
    await assert.rejects(ev("no_such_name"), /no variable `no_such_name`/);
    // An address cast to a pointer type the program declares.
    const address = Number((await ev("(unsigned)head")).result);
    assert.equal((await ev(`((struct node *)${address})->next->value`)).result, "30");
    assert.equal((await ev(`(*(struct node*)${address}).value`)).result, "20");
    await assert.rejects(ev("(struct nope *)0"), /declares no type `struct nope \*`/);

    // Memory: the node's bytes through its memory reference, then a write
    // that the program sees (value 20 -> 25).
    const mem = await dc.customRequest("readMemory", { memoryReference: head.memoryReference, count: 8 });
    const bytes = Buffer.from(mem.body.data, "base64");
    assert.equal(bytes.readInt32LE(0), 20);
    await dc.customRequest("writeMemory", {
      memoryReference: head.memoryReference,
      data: Buffer.from([25, 0, 0, 0]).toString("base64"),
    });
    assert.equal((await ev("head->value")).result, "25");
    // setVariable on a source local in memory.
    const set = await dc.setVariableRequest({ variablesReference: scopes[0].variablesReference, name: "total", value: "100" });
    assert.equal(set.body.value, "100");

    // Run on: the logpoint prints, the program's sum shows both changes.
    await dc.setBreakpointsRequest({ source: { path: appSource }, breakpoints: [{ line: 35, logMessage: "factorial({n})" }] });
    const stdout = await continueToExit(dc);
    assert.match(stdout, /^factorial\(20\)\nfactorial\(19\)\n/);
    assert.match(stdout, /factorial\(1\)\narea=12 sum=155 /);
  } finally {
    await dc.stop();
  }
});

test("a global set at a stop right after the program stored it is what the program reads next", async () => {
  // Line 54 stores global_counter and line 55 loads it again: optimized
  // debug code once answered that load from the stored value, so the
  // write below was lost (the program printed counter=67).
  const line = appLine("printf(\"area=");
  const dc = await client();
  try {
    await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        await dc.setBreakpointsRequest({ source: { path: appSource }, breakpoints: [{ line }] });
        await dc.configurationDoneRequest();
      }),
      dc.launch({ program: app }),
      dc.assertStoppedLocation("breakpoint", { path: appSource, line }),
    ]);
    const stack = await dc.stackTraceRequest({ threadId: 1 });
    const scopes = (await dc.scopesRequest({ frameId: stack.body.stackFrames[0].id })).body.scopes;
    const globals = scopes.find((s) => s.name === "Globals") ?? assert.fail(JSON.stringify(scopes));
    const vars = (await dc.variablesRequest({ variablesReference: globals.variablesReference })).body.variables;
    assert.equal(byName(vars, "global_counter").value, "67");
    const set = await dc.setVariableRequest({ variablesReference: globals.variablesReference, name: "global_counter", value: "1000" });
    assert.equal(set.body.value, "1000");
    const stdout = await continueToExit(dc);
    assert.match(stdout, /counter=1000\n/);
  } finally {
    await dc.stop();
  }
});

test("a preloaded module: step into the function it exports; its frame, wasm locals and names; the program's frames keep their source", async () => {
  const dc = await client();
  try {
    const program = join(fixtures, "dbg", "libmain-O0.wasm");
    const source = join(fixtures, "dbg", "libmain.c");
    const line = readFileSync(source, "utf8").split("\n").findIndex((l) => l.includes("sum = accumulate(i);")) + 1;
    const preload = [`acc=${join(fixtures, "dbg", "acc-O0.wasm")}`];
    await dc.hitBreakpoint({ program, preload }, { path: source, line });
    await Promise.all([dc.stepInRequest({ threadId: 1 }), dc.assertStoppedLocation("step", {})]);
    const [top, caller] = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    // The library's function by its own name section; no source of the
    // program's (its DWARF is the library's own, not read here).
    assert.equal(top.name, "accumulate");
    assert.equal(top.source, undefined);
    assert.equal(caller.name, "main");
    assert.equal(caller.line, line);
    // Frame 0's locals are the library function's: x = 1, named by the
    // library's name section where it has one (clang writes none for
    // locals, so wasm indices).
    const locals = await scopeVars(dc, top.id, "Wasm locals");
    assert.equal(locals[0].value, "1", JSON.stringify(locals));
    const globals = await scopeVars(dc, top.id, "Wasm globals");
    // The library's own stack pointer: its stack is below the program's
    // (0x10400 and up against 0x11200 and up, with wasm-ld's defaults).
    assert.equal(globals[0].name, "$__stack_pointer", JSON.stringify(globals));
    assert.ok(Number(globals[0].value) < 0x11000, JSON.stringify(globals));
    const callerVars = await scopeVars(dc, caller.id, "Locals");
    assert.equal(byName(callerVars, "i").value, "1");
    assert.equal(byName(callerVars, "sum").value, "0");
    await dc.setBreakpointsRequest({ source: { path: source }, breakpoints: [] });
    assert.match(await continueToExit(dc), /sum 12/);
  } finally {
    await dc.stop();
  }
});

/** Continues the stopped guest to its end (exit code 0); its stdout. */
async function continueToExit(dc) {
  let stdout = "";
  dc.on("output", (e) => {
    if (e.body.category === "stdout") stdout += e.body.output;
  });
  const exited = dc.waitForEvent("exited");
  await dc.continueRequest({ threadId: 1 });
  assert.equal((await exited).body.exitCode, 0);
  return stdout;
}

const byName = (vars, name) => vars.find((v) => v.name === name) ?? assert.fail(`${name} in ${JSON.stringify(vars)}`);

/** Resolves when the Debug Console (category "console") gets a line containing `text`. */
function consoleLine(dc, text) {
  return new Promise((resolve) => {
    const listener = (e) => {
      if (e.body.category === "console" && e.body.output.includes(text)) {
        dc.removeListener("output", listener);
        resolve(e.body.output);
      }
    };
    dc.on("output", listener);
  });
}

async function scopeVars(dc, frameId, scopeName) {
  const scopes = (await dc.scopesRequest({ frameId })).body.scopes;
  const scope = scopes.find((s) => s.name === scopeName) ?? assert.fail(`${scopeName} in ${JSON.stringify(scopes)}`);
  return (await dc.variablesRequest({ variablesReference: scope.variablesReference })).body.variables;
}

test("a trap stops on its source line before the stack unwinds, then exits 134", async () => {
  const dc = await client();
  try {
    // parse_header("abc", argc - 2) divides by zero at app.c:42.
    const stopped = dc.waitForEvent("stopped");
    await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        await dc.setExceptionBreakpointsRequest({ filters: ["traps"] });
        await dc.configurationDoneRequest();
      }),
      dc.launch({ program: app, args: ["abc"] }),
      dc.assertStoppedLocation("exception", { path: appSource, line: 42 }),
    ]);
    const event = await stopped;
    assert.match(event.body.description, /integer divide by zero/);
    const info = await dc.customRequest("exceptionInfo", { threadId: 1 });
    assert.equal(info.body.exceptionId, "trap");
    assert.match(info.body.description, /integer divide by zero/);
    const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.deepEqual(frames.slice(0, 2).map((f) => f.name), ["parse_header", "main"]);
    assert.equal(frames[1].line, 58);
    // The trapping frame's variables are there to read.
    const locals = await scopeVars(dc, frames[0].id, "Locals");
    assert.equal(byName(locals, "length").value, "3");
    assert.equal(byName(locals, "divisor").value, "0");
    assert.equal(byName(locals, "text").value.includes('"abc"'), true, byName(locals, "text").value);
    // Continuing lets the trap end the guest.
    const output = dc.assertOutput("stderr", "wasm trap: integer divide by zero");
    const exited = dc.waitForEvent("exited");
    await dc.continueRequest({ threadId: 1 });
    await output;
    assert.equal((await exited).body.exitCode, 134);
  } finally {
    await dc.stop();
  }
});

test(".wat line breakpoints, stubbed imports with externrefs, invoke, instruction steps and disassembly", async (t) => {
  const dir = scratch(t, "wasmscope-dap-");
  const wat = join(dir, "refs.wat");
  writeFileSync(
    wat,
    [
      "(module",
      '  (import "host" "make" (func $make (result externref)))',
      "  (global $keep (mut externref) (ref.null extern))",
      "  (table $t 2 externref)",
      '  (func $add (export "add") (param $a i32) (param $b i32) (result i32)',
      "    (local $r externref)",
      "    (local.set $r (call $make))",
      "    (global.set $keep (local.get $r))",
      "    (table.set $t (i32.const 1) (local.get $r))",
      "    (i32.add (local.get $a) (local.get $b))))",
      "",
    ].join("\n"),
  );
  const dc = await client();
  try {
    await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        const bp = await dc.setBreakpointsRequest({ source: { path: wat }, breakpoints: [{ line: 10 }] });
        assert.equal(bp.body.breakpoints[0].verified, true, JSON.stringify(bp.body));
        await dc.configurationDoneRequest();
      }),
      dc.launch({ program: wat, stubImports: true, invoke: "add", args: ["2", "40"] }),
      dc.assertStoppedLocation("breakpoint", { path: wat, line: 10 }),
    ]);
    const top = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(top.name, "add");
    // The externref the stub returned, everywhere it is held.
    const wasmLocals = await scopeVars(dc, top.id, "Wasm locals");
    const r = byName(wasmLocals, "$r");
    assert.match(r.value, /host\.make#1/);
    assert.match(r.value, /count/);
    assert.match(r.value, /0x[0-9a-f]+/);
    const globals = await scopeVars(dc, top.id, "Wasm globals");
    assert.match(byName(globals, "$keep").value, /host\.make#1/);
    const tables = await scopeVars(dc, top.id, "Tables");
    const entries = (await dc.variablesRequest({ variablesReference: tables[0].variablesReference })).body.variables;
    assert.equal(entries.length, 2);
    assert.match(entries[0].value, /null/);
    assert.match(entries[1].value, /host\.make#1/);

    // Disassembly around the instruction pointer: wasm text, the function's symbol.
    const ip = top.instructionPointerReference;
    const dis = (
      await dc.customRequest("disassemble", { memoryReference: ip, instructionOffset: -3, instructionCount: 6 })
    ).body.instructions;
    assert.equal(dis.length, 6);
    assert.equal(dis[3].address, ip);
    assert.match(dis[3].instruction, /local\.get/);
    assert.ok(dis.some((i) => i.symbol === "add"), JSON.stringify(dis));

    // One instruction at a time: the next instruction, still on line 10.
    await Promise.all([
      dc.stepInRequest({ threadId: 1, granularity: "instruction" }),
      dc.assertStoppedLocation("step", { path: wat, line: 10 }),
    ]);
    const next = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(next.instructionPointerReference, dis[4].address);

    // The invoked export's result is printed; the run exits 0.
    const output = dc.assertOutput("stdout", "42");
    const exited = dc.waitForEvent("exited");
    await dc.continueRequest({ threadId: 1 });
    await output;
    assert.equal((await exited).body.exitCode, 0);
  } finally {
    await dc.stop();
  }
});

test("a module without DWARF: listing source, listing and instruction breakpoints, loadedSources", async () => {
  const hello = join(fixtures, "hello.wasm");
  const dc = await client();
  try {
    await Promise.all([
      dc.configurationSequence(),
      dc.launch({ program: hello, stopOnEntry: true }),
      dc.assertStoppedLocation("entry", {}),
    ]);
    const top = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(top.source.sourceReference, 1);
    assert.equal(top.source.name, "hello.wasm.wat");
    const listing = (await dc.sourceRequest({ sourceReference: 1, source: top.source })).body.content;
    const lines = listing.split("\n");
    assert.match(lines[0], /^\(module/);
    // The frame's line is an instruction of the function it names.
    assert.match(lines[top.line - 1], /^\s+[a-z0-9_.]+/);
    const sources = (await dc.customRequest("loadedSources", {})).body.sources;
    assert.ok(sources.some((s) => s.sourceReference === 1), JSON.stringify(sources));

    // A breakpoint by listing line: the next instruction of `_start`.
    const bp = await dc.setBreakpointsRequest({ source: top.source, breakpoints: [{ line: top.line + 1 }] });
    const placed = bp.body.breakpoints[0];
    assert.equal(placed.verified, true, `${JSON.stringify(placed)} in ${lines.slice(top.line - 3, top.line + 4).join("\n")}`);
    assert.equal(placed.line, top.line + 1);
    await Promise.all([
      dc.continueRequest({ threadId: 1 }),
      dc.assertStoppedLocation("breakpoint", { line: placed.line }),
    ]);
    // An instruction breakpoint, by module offset from the disassembly.
    const here = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    const dis = (
      await dc.customRequest("disassemble", { memoryReference: here.instructionPointerReference, instructionCount: 3 })
    ).body.instructions;
    await dc.setBreakpointsRequest({ source: top.source, breakpoints: [] });
    const ib = await dc.customRequest("setInstructionBreakpoints", {
      breakpoints: [{ instructionReference: dis[2].address }, { instructionReference: "0x1" }],
    });
    assert.deepEqual(ib.body.breakpoints.map((b) => b.verified), [true, false]);
    await Promise.all([dc.continueRequest({ threadId: 1 }), dc.assertStoppedLocation("breakpoint", {})]);
    const at = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(at.instructionPointerReference, dis[2].address);
  } finally {
    await dc.stop();
  }
});

test("listingPath: the listing is shown at the client's path, and breakpoints set there apply", async () => {
  const hello = join(fixtures, "hello.wasm");
  const listingPath = `wasmscope-wasm:${hello}.wat`;
  const dc = await client();
  try {
    await Promise.all([
      dc.configurationSequence(),
      dc.launch({ program: hello, stopOnEntry: true, listingPath }),
      dc.assertStoppedLocation("entry", {}),
    ]);
    const top = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(top.source.path, listingPath);
    assert.equal(top.source.sourceReference, undefined);
    // A breakpoint by that path is a listing breakpoint, not a missing file.
    const bp = await dc.setBreakpointsRequest({ source: { path: listingPath }, breakpoints: [{ line: top.line + 1 }] });
    const placed = bp.body.breakpoints[0];
    assert.equal(placed.verified, true, JSON.stringify(placed));
    assert.equal(placed.source.path, listingPath);
    await Promise.all([dc.continueRequest({ threadId: 1 }), dc.assertStoppedLocation("breakpoint", { path: listingPath, line: placed.line })]);
    // Step Over in code without DWARF: the next instruction of the same
    // function (a listing line each), not the caller.
    const before = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    await Promise.all([dc.nextRequest({ threadId: 1 }), dc.waitForEvent("stopped")]);
    const after = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.equal(after.length, before.length);
    assert.equal(after[0].name, before[0].name);
    assert.ok(
      parseInt(after[0].instructionPointerReference, 16) > parseInt(before[0].instructionPointerReference, 16),
      `${before[0].instructionPointerReference} -> ${after[0].instructionPointerReference}`,
    );
  } finally {
    await dc.stop();
  }
});

test("breakpoints before launch resolve with breakpoint events; restart; continued events", async () => {
  const dc = await client();
  try {
    await dc.initializeRequest();
    // Set before the program exists: pending, then resolved at launch.
    const early = await dc.setBreakpointsRequest({ source: { path: appSource }, breakpoints: [{ line: 21 }] });
    assert.equal(early.body.breakpoints[0].verified, false);
    const resolved = dc.waitForEvent("breakpoint");
    await dc.launchRequest({ program: app });
    const event = (await resolved).body;
    assert.equal(event.breakpoint.id, early.body.breakpoints[0].id);
    assert.equal(event.breakpoint.verified, true);
    assert.equal(event.breakpoint.line, 21);
    await Promise.all([dc.configurationDoneRequest(), dc.assertStoppedLocation("breakpoint", { line: 21 })]);

    // Restart: the same breakpoints, from the start; no exit of the old run.
    let ended = false;
    dc.on("exited", () => (ended = true));
    const stoppedAgain = dc.assertStoppedLocation("breakpoint", { line: 21 });
    await dc.customRequest("restart", {});
    await stoppedAgain;
    assert.equal(ended, false);

    // Both listeners before the request: the rest of the run is quick.
    const continued = dc.waitForEvent("continued");
    const exited = dc.waitForEvent("exited");
    await dc.continueRequest({ threadId: 1 });
    assert.equal((await continued).body.allThreadsContinued, true);
    assert.equal((await exited).body.exitCode, 0);
  } finally {
    await dc.stop();
  }
});

test("--port serves DAP over TCP", async () => {
  const { spawn } = await import("node:child_process");
  const server = spawn(binary, ["dap", "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    const port = await new Promise((resolve, reject) => {
      let err = "";
      server.stderr.on("data", (d) => {
        err += d;
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      server.on("exit", (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const dc = new DebugClient(binary, "dap", "wasmscope");
    dc.defaultTimeout = 30000;
    await dc.start(port);
    try {
      await dc.hitBreakpoint({ program: app }, { path: appSource, line: 21 });
      const exited = dc.waitForEvent("exited");
      await dc.setBreakpointsRequest({ source: { path: appSource }, breakpoints: [] });
      await dc.continueRequest({ threadId: 1 });
      assert.equal((await exited).body.exitCode, 0);
    } finally {
      await dc.stop();
    }
  } finally {
    server.kill();
  }
});

test("a warm compiled-code cache: same stops, same stack, same variables", async (t) => {
  const cache = scratch(t, "wasmscope-dap-cache-");
  async function look(extra) {
    const dc = await client();
    const console = [];
    dc.on("output", (e) => {
      if (e.body.category === "console") console.push(e.body.output);
    });
    try {
      await dc.hitBreakpoint({ program: app, ...extra }, { path: appSource, line: 21 });
      const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
      const seen = { stack: frames.map((f) => `${f.name}:${f.line}`) };
      for (const [i, f] of frames.slice(0, 2).entries()) {
        seen[`locals${i}`] = (await scopeVars(dc, f.id, "Locals")).map((v) => `${v.name}=${v.value}`);
        seen[`wasm${i}`] = (await scopeVars(dc, f.id, "Wasm locals")).map((v) => `${v.name}=${v.value}`);
      }
      await Promise.all([dc.nextRequest({ threadId: 1 }), dc.assertStoppedLocation("step", { line: 22 })]);
      const exited = dc.waitForEvent("exited");
      await dc.continueRequest({ threadId: 1 });
      assert.equal((await exited).body.exitCode, 0);
      return { seen, console: console.join("") };
    } finally {
      await dc.stop();
    }
  }
  const cold = await look({ cache });
  assert.match(cold.console, /compiled, and stored in the cache/);
  const warm = await look({ cache });
  assert.match(warm.console, /compiled code loaded from the cache/);
  assert.deepEqual(warm.seen, cold.seen);
  assert.ok(cold.seen.locals0.length > 0 && cold.seen.wasm0.length > 0, JSON.stringify(cold.seen));
  const off = await look({ cache: false });
  assert.doesNotMatch(off.console, /cache/);
  assert.deepEqual(off.seen, cold.seen);
});

// Seeded random and mutated requests against a stopped session: every
// request gets an answer (a result or an error response) and the session
// still works afterwards. A failure prints the seed and the request;
// WASMSCOPE_FUZZ_SEED=N replays it, WASMSCOPE_FUZZ_SECONDS sets the budget.
const dapFuzzSeconds = Number(process.env.WASMSCOPE_FUZZ_SECONDS ?? "3");
const dapFuzzSeed = Number(process.env.WASMSCOPE_FUZZ_SEED ?? "20261205");
test(`random and malformed requests for ${dapFuzzSeconds}s at a stop: always an answer`, async () => {
  let seed = dapFuzzSeed;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pick = (xs) => xs[rand(xs.length)];
  const dc = await client();
  try {
    await dc.hitBreakpoint({ program: app }, { path: appSource, line: 21 });
    const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    const scopes = (await dc.scopesRequest({ frameId: frames[0].id })).body.scopes;
    const refs = scopes.map((s) => s.variablesReference);
    const weird = [null, -1, 0, 1, 2 ** 31, 2 ** 53, -(2 ** 53), 1.5, "", "x", "0x10", [], {}, true, "🦀".repeat(50)];
    const num = () => (rand(3) === 0 ? pick(weird) : pick([...refs, frames[0].id, 1, 0x10, 0x400]));
    const text = () => (rand(3) === 0 ? pick(weird) : pick(["a", "p->x", "p->x + 1", "*p", "$__stack_pointer", "p[", "((struct point *)0)->x", "a / 0", "&p"]));
    const requests = [
      () => ["stackTrace", { threadId: rand(4) === 0 ? pick(weird) : 1, startFrame: num(), levels: num() }],
      () => ["scopes", { frameId: num() }],
      () => ["variables", { variablesReference: num(), start: num(), count: num() }],
      () => ["evaluate", { expression: text(), frameId: num(), context: pick(["watch", "repl", "hover", 7]) }],
      () => ["setVariable", { variablesReference: num(), name: text(), value: text() }],
      () => ["readMemory", { memoryReference: pick(["0", "0x400", "-1", "zz", "0xffffffffffff", 3]), offset: num(), count: num() }],
      () => ["writeMemory", { memoryReference: pick(["0xfffffff0", "0xfffffffe", "nope"]), offset: num(), data: pick(["AAAA", "!!", "", 5]) }],
      () => ["disassemble", { memoryReference: pick(["0x0", "0x2", "0xffffffff", "x"]), instructionOffset: num(), instructionCount: num() }],
      () => ["source", { sourceReference: num(), source: pick([{}, { sourceReference: 1 }, { path: "/nope" }, null]) }],
      () => ["setBreakpoints", { source: pick([{ path: appSource }, { path: "/nope.c" }, {}, 5]), breakpoints: pick([[{ line: num() }], [{ line: 22, condition: text() }], "x", []]) }],
      () => ["setFunctionBreakpoints", { breakpoints: pick([[{ name: text() }], [{ name: "area" }], null]) }],
      () => ["setInstructionBreakpoints", { breakpoints: pick([[{ instructionReference: pick(["0x10", "q", 4]) }], {}]) }],
      () => ["dataBreakpointInfo", { variablesReference: num(), name: text() }],
      () => ["loadedSources", {}],
      () => ["threads", pick([{}, null, 3])],
      () => [pick(["noSuchRequest", "", "launch", "attach", "configurationDone", "initialize"]), { program: pick(["/nope.wasm", 3]) }],
    ];
    const deadline = Date.now() + dapFuzzSeconds * 1000;
    let sent = 0;
    let failed = 0;
    while (Date.now() < deadline) {
      const [command, args] = pick(requests)();
      const what = `seed ${dapFuzzSeed}, request ${sent}: ${command} ${JSON.stringify(args)}`;
      let timer;
      const hang = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in 10 s (${what})`)), 10_000);
      });
      try {
        await Promise.race([dc.customRequest(command, args), hang]);
      } catch (e) {
        assert.doesNotMatch(String(e.message), /no answer in 10 s/, what);
        failed++;
      } finally {
        clearTimeout(timer);
      }
      sent++;
    }
    assert.ok(sent > 50, `only ${sent} requests`);
    assert.ok(failed > 0, "malformed requests get error responses");
    // Still the same stop, still able to run to the end.
    await dc.setBreakpointsRequest({ source: { path: appSource }, breakpoints: [] });
    await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
    await dc.customRequest("setInstructionBreakpoints", { breakpoints: [] });
    const again = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.equal(again[0].name, "area");
    // Random `setVariable`s may have changed what the guest computes (a
    // pointer set to garbage traps): it ends, one way or the other.
    const terminated = dc.waitForEvent("terminated");
    await dc.continueRequest({ threadId: 1 });
    await terminated;
  } finally {
    await dc.stop();
  }
});
