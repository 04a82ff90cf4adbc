// `wasmscope dap` on programs built by the toolchains people use: Rust
// (rustc, wasm32-wasip1), C++ with libc++ and Zig (the `ziglang` package),
// and C from clang-22 (DWARF 5). The programs are tests/fixtures/lang/*;
// tests/fixtures/lang/build.sh builds them into target/fixtures/lang
// (LANG_FIXTURES). Each `// STOP: name` comment marks a line a test stops
// at; the values asserted are those the program computes there, as the
// language's own debugger formatters show them.
//   WASMSCOPE=target/release/wasmscope LANG_FIXTURES=target/fixtures/lang \
//     node --test tests/node/lang.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import testsupport from "@vscode/debugadapter-testsupport";
import { binary, root, sources, program, stopLine } from "./corpus.mjs";

const { DebugClient } = testsupport;

async function client() {
  const dc = new DebugClient(binary, "dap", "wasmscope");
  dc.defaultTimeout = 60000;
  await dc.start();
  return dc;
}

/// A stopped frame's views: variables by name, children, evaluation.
class Frame {
  constructor(dc, frame) {
    this.dc = dc;
    this.frame = frame;
  }
  async scope(name) {
    const scopes = (await this.dc.scopesRequest({ frameId: this.frame.id })).body.scopes;
    const s = scopes.find((x) => x.name === name);
    assert.ok(s, `no scope ${name}: ${scopes.map((x) => x.name)}`);
    return this.vars(s.variablesReference);
  }
  async vars(reference, start, count) {
    const body = (await this.dc.variablesRequest({ variablesReference: reference, start, count })).body;
    return new Map(body.variables.map((v) => [v.name, v]));
  }
  async children(v) {
    assert.ok(v.variablesReference > 0, `${v.name} = ${v.value} does not expand`);
    return this.vars(v.variablesReference);
  }
  async eval(expression) {
    const r = await this.dc.evaluateRequest({ expression, frameId: this.frame.id, context: "watch" });
    return r.body.result;
  }
}

/// Launches `wasm`, stops at `// STOP: stop` of `source`.
async function stopAt(dc, wasm, source, stop, args = []) {
  const line = stopLine(source, stop);
  await dc.hitBreakpoint({ program: program(wasm), args }, { path: source, line });
  const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
  return { frames, top: new Frame(dc, frames[0]), frame: (i) => new Frame(dc, frames[i]) };
}

function value(vars, name) {
  const v = vars.get(name);
  assert.ok(v, `no variable ${name} among ${[...vars.keys()]}`);
  return v.value;
}

const rust = join(sources, "rust", "inventory.rs");
const cpp = join(sources, "cpp", "inventory.cpp");
const zig = join(sources, "zig", "inventory.zig");

test("Rust: locals, library types, enums, trait objects, globals", async () => {
  const dc = await client();
  try {
    const { frames, top } = await stopAt(dc, "rust-O0.wasm", rust, "main-all");
    assert.equal(frames[0].name, "inventory::main");
    const l = await top.scope("Locals");
    assert.equal(value(l, "n"), "3");
    assert.equal(value(l, "greeting"), '"welcome to the shop"');
    assert.equal(value(l, "label"), '"spring-sale"');
    assert.equal(value(l, "found_qty"), "Some(7)");
    assert.equal(value(l, "no_qty"), "None");
    assert.equal(value(l, "missing"), "None");
    assert.equal(value(l, "parsed"), "Ok(12)");
    assert.equal(value(l, "failed"), 'Err("bad quantity: x")');
    assert.equal(value(l, "rect"), "Rect { w: 2, h: 3 }");
    assert.equal(value(l, "shared"), '"shared-note" (strong=2, weak=0)');
    assert.equal(value(l, "arc_nums"), "size=3 (strong=1, weak=0)");
    assert.equal(value(l, "described"), 'inventory::Item {name: "wrench", qty: 7, price: 8.25, tags: size=1}');
    assert.equal(value(l, "boxed"), "inventory::Shape Circle { r: 2 }");
    assert.equal(value(l, "tree_sum"), "350");
    assert.equal(value(l, "over_limit"), "false");
    assert.equal(value(l, "stock_value"), "104.25");
    assert.equal(l.get("items").type, "alloc::vec::Vec<inventory::Item, alloc::alloc::Global>");
    // A reference cycle: the summary stops nesting, the adapter lives.
    assert.match(value(l, "ring"), /^\{name: "a", next: Some\(\{name: "b", .*\{…\}.*\(strong=2, weak=0\)$/);
    const ring = await top.children(l.get("ring"));
    const link = await top.children(ring.get("value"));
    assert.equal(value(link, "name"), '"a"');

    // A Vec's elements, a struct's String and Vec<String> fields.
    const items = await top.children(l.get("items"));
    assert.equal(value(l, "items"), "size=3");
    assert.equal(l.get("items").indexedVariables, 3);
    assert.equal(value(items, "[0]"), '{name: "hammer", qty: 3, price: 12.5, tags: size=2}');
    assert.equal(value(items, "[2]"), '{name: "tape", qty: 12, price: 0.75, tags: size=0}');
    const hammer = await top.children(items.get("[0]"));
    const tags = await top.children(hammer.get("tags"));
    assert.deepEqual([...tags.values()].map((t) => t.value), ['"tools"', '"steel"']);

    // Enums with data in a Vec; a slice; an array; a HashMap (any order).
    const shapes = await top.children(l.get("shapes"));
    assert.deepEqual([...shapes.values()].map((s) => s.value), ["Circle { r: 1.5 }", "Rect { w: 2, h: 3 }", "Empty"]);
    assert.deepEqual([...(await top.children(l.get("window"))).values()].map((v) => v.value), ["9", "2"]);
    assert.equal(value(l, "numbers"), "{4, 9, 2, 7}");
    const stock = [...(await top.children(l.get("stock"))).values()].map((v) => v.value).sort();
    assert.deepEqual(stock, ['("apple", 3)', '("pear", 5)', '("plum", 7)']);
    assert.deepEqual([...(await top.children(l.get("labels"))).values()].map((v) => v.value), ['"item-0"', '"item-1"', '"item-2"']);

    // Option<Box<Node>>: the tree through Some and Box.
    const tree = await top.children(l.get("tree"));
    const root = await top.children(tree.get("__0"));
    assert.equal(value(root, "key"), "50");

    // Paths as Rust writes them, through the formatters' elements.
    assert.equal(await top.eval("items[1].name"), '"wrench"');
    assert.equal(await top.eval("items[0].tags[1]"), '"steel"');
    assert.equal(await top.eval("labels[2]"), '"item-2"');
    assert.equal(await top.eval("items[0].qty * 2"), "6");
    assert.equal(await top.eval("window[0]"), "9");
    await assert.rejects(top.eval("items[3]"), /out of bounds/);
    assert.equal(await top.eval("GREETING"), '"welcome to the shop"');
    assert.equal(await top.eval("*shared"), '"shared-note"');
    assert.equal(await top.eval("described.name"), '"wrench"', "a field through a trait object");
    assert.equal(await top.eval("*boxed"), "Circle { r: 2 }");
    assert.equal(await top.eval("inventory::GREETING"), '"welcome to the shop"');

    // Globals: the program's static, no vtables, no standard library.
    const g = await top.scope("Globals");
    assert.equal(value(g, "inventory::GREETING"), '"welcome to the shop"');
    assert.ok(![...g.keys()].some((k) => k.includes("vtable")), [...g.keys()].join(", "));
  } finally {
    await dc.stop();
  }
});

test("Rust: methods, generics, recursion, function breakpoints by name", async () => {
  const dc = await client();
  try {
    let { frames, top } = await stopAt(dc, "rust-O0.wasm", rust, "generic");
    assert.equal(frames[0].name, "inventory::largest<i32>");
    assert.equal(frames[1].name, "inventory::main");
    let l = await top.scope("Locals");
    assert.equal(value(l, "best"), "9");
    assert.deepEqual([...(await top.children(l.get("xs"))).values()].map((v) => v.value), ["4", "9", "2", "7"]);
    // The second instance: f64.
    await Promise.all([dc.continueRequest({ threadId: 1 }), dc.assertStoppedLocation("breakpoint", {})]);
    frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.equal(frames[0].name, "inventory::largest<f64>");
    assert.equal(value(await new Frame(dc, frames[0]).scope("Locals"), "best"), "3.75");
  } finally {
    await dc.stop();
  }
  const dc2 = await client();
  try {
    const { frames, top } = await stopAt(dc2, "rust-O0.wasm", rust, "recurse");
    assert.deepEqual(frames.slice(0, 6).map((f) => f.name), [...Array(5).fill("inventory::factorial"), "inventory::main"]);
    for (let i = 0; i < 5; i++) {
      assert.equal(value(await new Frame(dc2, frames[i]).scope("Locals"), "n"), String(i + 1));
    }
    assert.equal(await top.eval("n"), "1");
  } finally {
    await dc2.stop();
  }
  const dc3 = await client();
  try {
    const { top, frames } = await stopAt(dc3, "rust-O0.wasm", rust, "method");
    assert.equal(frames[0].name, "inventory::Item::value");
    assert.equal(await top.eval("self.name"), '"hammer"');
    assert.equal(await top.eval("self.qty"), "3");
    assert.equal(value(await top.scope("Locals"), "each"), "12.5");
  } finally {
    await dc3.stop();
  }
  // A function breakpoint by the name Rust writes (its tail is enough).
  const dc4 = await client();
  try {
    await Promise.all([
      dc4.waitForEvent("initialized").then(async () => {
        const r = await dc4.setFunctionBreakpointsRequest({ breakpoints: [{ name: "Item::value" }] });
        assert.equal(r.body.breakpoints[0].verified, true);
        await dc4.configurationDoneRequest();
      }),
      dc4.launch({ program: program("rust-O0.wasm") }),
      dc4.assertStoppedLocation("breakpoint", {}),
    ]);
    const frames = (await dc4.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.equal(frames[0].name, "inventory::Item::value");
  } finally {
    await dc4.stop();
  }
});

test("C++ (libc++): strings, containers, smart pointers, static members", async () => {
  const dc = await client();
  try {
    const { frames, top } = await stopAt(dc, "cpp-O0.wasm", cpp, "main-all");
    assert.equal(frames[0].name, "main");
    const l = await top.scope("Locals");
    assert.equal(value(l, "greeting"), '"welcome to the shop"');
    assert.equal(l.get("greeting").type, "std::string");
    assert.equal(value(l, "label"), '"spring-sale"');
    assert.equal(value(l, "found_qty"), "7");
    assert.equal(value(l, "no_qty"), "nullopt");
    assert.equal(value(l, "v_int"), "index=0 42");
    assert.equal(value(l, "v_double"), "index=1 2.5");
    assert.equal(value(l, "v_text"), 'index=2 "note"');
    assert.equal(value(l, "missing"), "nullptr");
    assert.equal(value(l, "shared"), '"shared-note"');
    assert.equal(value(l, "hash_pos"), "4294967295");
    assert.equal(value(l, "items"), "size=3");

    const items = await top.children(l.get("items"));
    // A short (inline) and a long string both read.
    assert.equal(value(items, "[0]"), '{name: "hammer", qty: 3, price: 12.5, tags: size=2}');
    const tags = await top.children((await top.children(items.get("[0]"))).get("tags"));
    assert.deepEqual([...tags.values()].map((t) => t.value), ['"tools"', '"steel"']);
    assert.deepEqual([...(await top.children(l.get("numbers"))).values()].map((v) => v.value), ["4", "9", "2", "7"]);
    // A map in key order, a set, an unordered_map in any order.
    assert.deepEqual([...(await top.children(l.get("prices"))).values()].map((v) => v.value), ['("hammer", 1250)', '("tape", 75)', '("wrench", 825)']);
    assert.deepEqual([...(await top.children(l.get("seen"))).values()].map((v) => v.value), ["2", "4", "7", "9"]);
    const stock = [...(await top.children(l.get("stock"))).values()].map((v) => v.value).sort();
    assert.deepEqual(stock, ['("apple", 3)', '("pear", 5)', '("plum", 7)']);
    // unique_ptr: the tree, through the pointer.
    const tree = await top.children(l.get("tree"));
    assert.equal(value(tree, "key"), "50");
    assert.equal(value(await top.children(tree.get("left")), "key"), "30");
    assert.deepEqual([...(await top.children(l.get("labels"))).values()].map((v) => v.value), ['"item-0"', '"item-1"', '"item-2"']);

    // A static data member reads its definition, never instance bytes.
    const first = await top.children(l.get("first"));
    assert.equal(value(first, "static created"), "3");
    const g = await top.scope("Globals");
    assert.equal(value(g, "Item::created"), "3");
    assert.ok(![...g.keys()].some((k) => k.startsWith("std::")), [...g.keys()].join(", "));

    assert.equal(await top.eval("items[1].name"), '"wrench"');
    assert.equal(await top.eval("labels[2]"), '"item-2"');
    assert.equal(await top.eval("first->qty + 1"), "4");
    assert.equal(await top.eval("numbers[3]"), "7");
    assert.equal(await top.eval("Item::created"), "3");
    assert.equal(await top.eval("tree->left->key"), "30", "through unique_ptr");
    assert.equal(await top.eval("*found_qty"), "7");
    assert.equal(await top.eval("*shared"), '"shared-note"');
  } finally {
    await dc.stop();
  }
  const dc2 = await client();
  try {
    const { frames, top } = await stopAt(dc2, "cpp-O0.wasm", cpp, "method");
    assert.equal(frames[0].name, "Item::value() const");
    assert.equal(await top.eval("this->qty"), "3");
    assert.equal(await top.eval("qty"), "3", "a member is in scope in its method");
  } finally {
    await dc2.stop();
  }
});

test("Zig: slices, optionals, error unions, tagged unions", async () => {
  const dc = await client();
  try {
    const { frames, top } = await stopAt(dc, "zig-Debug.wasm", zig, "main-all");
    assert.equal(frames[0].name, "inventory.main");
    const l = await top.scope("Locals");
    assert.equal(value(l, "greeting"), '"welcome to the shop"');
    assert.equal(value(l, "found_qty"), "7");
    assert.equal(value(l, "no_qty"), "null");
    assert.equal(value(l, "missing"), "null");
    assert.equal(value(l, "parsed"), "12");
    assert.equal(value(l, "failed"), "error.NotANumber");
    assert.equal(value(l, "rect"), ".rect = {w: 2, h: 3}");
    const shapes = await top.children(l.get("shapes"));
    assert.deepEqual([...shapes.values()].map((s) => s.value), [".circle = {r: 1.5}", ".rect = {w: 2, h: 3}", ".empty"]);
    assert.equal(value(l, "window"), "size=2");
    assert.deepEqual([...(await top.children(l.get("labels"))).values()].map((v) => v.value), ['"item-0"', '"item-1"', '"item-2"']);
    assert.equal(await top.eval("labels[1]"), '"item-1"');
    assert.equal(await top.eval("tree->left->key"), "30");
    // A comptime constant the linker discarded says so; never a made-up value.
    const g = await top.scope("Globals");
    assert.match(value(g, "LIMIT"), /discarded by the linker/);
  } finally {
    await dc.stop();
  }
  // Linked with --no-gc-sections, the constants have storage: real values.
  const dc2 = await client();
  try {
    const { top } = await stopAt(dc2, "zig-Debug-keep.wasm", zig, "main-all");
    const g = await top.scope("Globals");
    assert.equal(value(g, "LIMIT"), "42");
    assert.equal(value(g, "GREETING"), '"welcome to the shop"');
    assert.equal(await top.eval("LIMIT + 1"), "43");
  } finally {
    await dc2.stop();
  }
  // A breakpoint on a function stops where its parameters read right:
  // Zig's Debug code marks prologue_end before it stores `n` to the frame
  // slot its DWARF names, so the stop waits for that store.
  const dc3 = await client();
  try {
    await Promise.all([
      dc3.waitForEvent("initialized").then(async () => {
        const r = await dc3.setFunctionBreakpointsRequest({ breakpoints: [{ name: "factorial" }] });
        assert.equal(r.body.breakpoints[0].verified, true);
        await dc3.configurationDoneRequest();
      }),
      dc3.launch({ program: program("zig-Debug.wasm") }),
      dc3.assertStoppedLocation("breakpoint", {}),
    ]);
    for (const n of ["5", "4"]) {
      const frames = (await dc3.stackTraceRequest({ threadId: 1 })).body.stackFrames;
      assert.equal(frames[0].name, "inventory.factorial");
      // The body's first line, `if (n <= 1) {`, just above `recurse`.
      assert.equal(frames[0].line, stopLine(zig, "recurse") - 1);
      assert.equal(value(await new Frame(dc3, frames[0]).scope("Locals"), "n"), n);
      if (n === "5") {
        await Promise.all([dc3.continueRequest({ threadId: 1 }), dc3.assertStoppedLocation("breakpoint", {})]);
      }
    }
  } finally {
    await dc3.stop();
  }
  // A step into the call stops at the same place, `n` already stored.
  const dc4 = await client();
  try {
    const call = readFileSync(zig, "utf8").split("\n").findIndex((l) => l.includes("= factorial(5);")) + 1;
    await dc4.hitBreakpoint({ program: program("zig-Debug.wasm") }, { path: zig, line: call });
    await Promise.all([dc4.stepInRequest({ threadId: 1 }), dc4.assertStoppedLocation("step", {})]);
    const frames = (await dc4.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.equal(frames[0].name, "inventory.factorial");
    assert.equal(frames[0].line, stopLine(zig, "recurse") - 1);
    assert.equal(value(await new Frame(dc4, frames[0]).scope("Locals"), "n"), "5");
  } finally {
    await dc4.stop();
  }
});

test("C from clang-22 (DWARF 5): the C fixtures read as with clang 14", async () => {
  const dc = await client();
  try {
    const source = join(root, "tests", "fixtures", "dbg", "app.c");
    await dc.hitBreakpoint({ program: program("c22-app-O0.wasm") }, { path: source, line: 21 });
    const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.equal(frames[0].name, "area");
    const caller = new Frame(dc, frames[1]);
    assert.equal(value(await caller.scope("Locals"), "p"), "{x: 3, y: 4}");
    assert.equal(await caller.eval("p.x + p.y"), "7");
  } finally {
    await dc.stop();
  }
});

// ---- The same program natively, under a native debugger with the
// language's own formatters: rust-gdb (gdb with rustc's pretty-printers)
// on the x86-64 build. Every value wasmscope shows must carry the same
// strings, numbers and variants as the native debugger prints.

/// The strings, numbers, booleans and variant names of a rendering, with
/// what only one side prints (addresses, container sizes, counts) left out.
function facts(text) {
  const cleaned = text
    .replace(/0x[0-9a-f]+/g, "")
    .replace(/[\w&[\]<>:]*\(size=\d+\)( =)?/g, "")
    .replace(/\b(?:Rc|Arc)\(strong=\d+, weak=\d+\) = \{value = (.*), strong = \d+, weak = \d+\}/, "$1")
    .replace(/\(strong=\d+, weak=\d+\)/g, "")
    .replace(/size=\d+/g, "");
  const pattern = /"(?:[^"\\]|\\.)*"|(?<![\w.])-?\d+(?:\.\d+)?(?:e-?\d+)?|\b(?:Some|None|Ok|Err|Circle|Rect|Empty|true|false)\b/g;
  return cleaned.match(pattern) ?? [];
}

/// A variable as wasmscope shows it, containers and elided parts expanded
/// (what a user sees opening the tree), as one text.
async function shown(frame, v, depth = 0) {
  const elided = /size=|\{…\}|\[…\]|…/.test(v.value);
  if (!v.variablesReference || !elided || depth > 4) {
    return v.value;
  }
  const parts = [];
  for (const c of (await frame.children(v)).values()) {
    // Static members are the class's, not the value's (lldb and
    // rust-gdb leave them out of a value too).
    if (!c.name.startsWith("static ")) {
      parts.push(await shown(frame, c, depth + 1));
    }
  }
  return parts.join(", ");
}

function nativeValues(debuggerArgs, program, names) {
  const out = execFileSync(debuggerArgs[0], [...debuggerArgs.slice(1), ...names.flatMap((n) => ["-ex", `print ${n}`]), program], {
    encoding: "utf8",
    timeout: 120000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const printed = out.split("\n").filter((l) => /^\$\d+ = /.test(l));
  assert.equal(printed.length, names.length, out);
  return new Map(names.map((n, i) => [n, printed[i].replace(/^\$\d+ = /, "")]));
}

for (const wasm of ["rust-O0.wasm", "rust163-O0.wasm"]) test(`Rust (${wasm}): every value matches rust-gdb on the native build`, async () => {
  const names = [
    "n", "greeting", "label", "found_qty", "no_qty", "missing", "parsed", "failed", "rect", "shapes",
    "shared", "arc_nums", "stock", "items", "labels", "numbers", "window", "tree_depth", "tree_sum",
    "bonus", "boosted", "big_int", "big_float", "fact", "total_qty", "over_limit", "stock_value",
  ];
  const line = stopLine(rust, "main-all");
  const native = nativeValues(
    ["rust-gdb", "-batch", "-ex", `break inventory.rs:${line}`, "-ex", "run"],
    program("rust-O0.native"),
    names,
  );
  const dc = await client();
  try {
    const { top } = await stopAt(dc, wasm, rust, "main-all");
    const locals = await top.scope("Locals");
    for (const name of names) {
      const ours = facts(await shown(top, locals.get(name)));
      assert.ok(ours.length > 0, `${name}: nothing to compare in ${await shown(top, locals.get(name))}`);
      const theirs = facts(native.get(name));
      // A HashMap's order is its hasher's: compare as a multiset.
      const order = (xs) => (name === "stock" ? [...xs].sort() : xs);
      assert.deepEqual(order(ours), order(theirs), `${name}: wasmscope ${JSON.stringify(ours)}, rust-gdb ${native.get(name)}`);
    }
  } finally {
    await dc.stop();
  }
});

// ---- Optimized builds: never a wrong value. Each local the optimized
// build shows reads as in the -O0 build, or says it is optimized out or
// unavailable.
async function allShown(dc, wasm, source) {
  const { top } = await stopAt(dc, wasm, source, "main-all");
  const out = new Map();
  for (const [name, v] of await top.scope("Locals")) {
    out.set(name, await shown(top, v));
  }
  return out;
}

// The output buffer and writer hold what the program has printed: the
// optimized code stops after it printed its first line, -O0 before.
const printing = ["buf", "stdout_writer"];
for (const [lang, debug, optimized, source] of [
  ["Rust", "rust-O0.wasm", "rust-O2.wasm", rust],
  ["C++", "cpp-O0.wasm", "cpp-O2.wasm", cpp],
  ["Zig", "zig-Debug.wasm", "zig-ReleaseSafe.wasm", zig],
]) {
  test(`${lang}: the optimized build shows no wrong value`, async () => {
    const dc = await client();
    const dc2 = await client();
    try {
      const reference = await allShown(dc, debug, source);
      const values = await allShown(dc2, optimized, source);
      let compared = 0;
      for (const [name, text] of values) {
        if (/optimized out|unavailable/.test(text) || !reference.has(name) || printing.includes(name)) {
          continue;
        }
        // Addresses differ between builds; everything else must not.
        // A hash map's order is its hasher's (seeded at random).
        const strip = (s) =>
          name === "stock" ? facts(s).sort().join(" ") : s.replace(/0x[0-9a-f]+/g, "0x…");
        const [a, b] = [strip(text), strip(reference.get(name))];
        assert.ok(a === b, `${name} in ${optimized}: ${a.slice(0, 300)}, at -O0: ${b.slice(0, 300)}`);
        compared++;
      }
      assert.ok(compared >= 8, `only ${compared} values to compare`);
    } finally {
      await dc.stop();
      await dc2.stop();
    }
  });
}

// C++: lldb 22 with its libc++ formatters on the x86-64 build
// (tests/fixtures/lang/lldb22, unpacked by setup.sh). lldb 14's libc++
// formatters predate this libc++: they show `size=0` for a 3-element
// vector and crash on an unordered_map, so they are no reference.
function lldbValues(program, line, names) {
  const args = ["-b", "-o", `b inventory.cpp:${line}`, "-o", "run", ...names.flatMap((n) => ["-o", `frame variable ${n}`]), program];
  const out = execFileSync(join(sources, "lldb22"), args, { encoding: "utf8", timeout: 120000, stdio: ["ignore", "pipe", "pipe"] });
  const values = new Map();
  for (const chunk of out.split("(lldb) frame variable ").slice(1)) {
    const [name, ...rest] = chunk.split("\n");
    const text = rest.join("\n").split("\n(lldb)")[0];
    values.set(name.trim(), text);
  }
  assert.equal(values.size, names.length, out);
  return values;
}

/// lldb's rendering without what only lldb prints: the type and name,
/// element labels, optional and variant decorations.
function lldbFacts(text) {
  return facts(
    text
      .replace(/^\([^\n]*?\) \w+ = /, "")
      .replace(/\[\d+\] = /g, "")
      .replace(/Has Value=\w+/g, "")
      .replace(/Active Type = [^{]*/g, "")
      .replace(/__elems_ = /g, ""),
  );
}

test("C++: every value matches lldb 22 (libc++ formatters) on the native build", async () => {
  // size_t is 8 bytes natively and 4 on wasm32: `hash_pos` (npos) differs
  // by design and is left out.
  const names = [
    "n", "greeting", "items", "prices", "stock", "found_qty", "no_qty", "v_int", "v_double", "v_text",
    "label", "labels", "seen", "numbers", "dash", "tree_depth", "tree_sum", "bonus", "boosted",
    "big_int", "big_float", "fact", "total_qty", "over_limit", "stock_value",
  ];
  const native = lldbValues(program("cpp-O0.native"), stopLine(cpp, "main-all"), names);
  const dc = await client();
  try {
    const { top } = await stopAt(dc, "cpp-O0.wasm", cpp, "main-all");
    const locals = await top.scope("Locals");
    for (const name of names) {
      const text = (await shown(top, locals.get(name))).replace(/index=\d+ /, "");
      const ours = facts(text);
      const theirs = lldbFacts(native.get(name));
      // An unordered_map's order is its buckets' (hashes differ by width).
      const order = (xs) => (name === "stock" ? [...xs].sort() : xs);
      assert.deepEqual(order(ours), order(theirs), `${name}: wasmscope ${text.slice(0, 200)}, lldb ${native.get(name).slice(0, 300)}`);
    }
  } finally {
    await dc.stop();
  }
});
