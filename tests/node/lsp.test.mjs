// End-to-end tests of `wasmscope lsp` through Microsoft's LSP client
// library (vscode-languageserver-protocol over vscode-jsonrpc), as an
// editor would drive it. Run by tests/node.rs with WASMSCOPE set to the
// binary; by hand: WASMSCOPE=target/release/wasmscope node --test tests/node/lsp.test.mjs
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  createProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from "vscode-languageserver-protocol/node.js";

const binary = process.env.WASMSCOPE;
assert.ok(binary, "set WASMSCOPE to the wasmscope binary");
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const scratch = mkdtempSync(join(tmpdir(), "wasmscope-lsp-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
const fuzzSeconds = Number(process.env.WASMSCOPE_FUZZ_SECONDS ?? "3");

/** Starts a server and an initialized client connection. */
async function start() {
  const child = spawn(binary, ["lsp"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  const conn = createProtocolConnection(
    new StreamMessageReader(child.stdout),
    new StreamMessageWriter(child.stdin),
  );
  const diagnostics = new Map(); // uri -> [{version, diagnostics}]
  const waiters = [];
  conn.onNotification("textDocument/publishDiagnostics", (p) => {
    diagnostics.set(p.uri, p);
    for (const w of [...waiters]) {
      if (w.uri === p.uri && w.pred(p)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(p);
      }
    }
  });
  conn.listen();
  const init = await conn.sendRequest("initialize", {
    processId: process.pid,
    rootUri: null,
    capabilities: {
      textDocument: {
        publishDiagnostics: { versionSupport: true },
        hover: { contentFormat: ["markdown"] },
      },
    },
  });
  await conn.sendNotification("initialized", {});
  /** Resolves with the next diagnostics for `uri` satisfying `pred`. */
  const nextDiagnostics = (uri, pred = () => true) => {
    const have = diagnostics.get(uri);
    if (have && pred(have)) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      waiters.push({ uri, pred, resolve });
      setTimeout(() => reject(new Error(`no diagnostics for ${uri}; stderr: ${stderr}`)), 20000);
    });
  };
  return { child, conn, init, exited, nextDiagnostics, diagnostics, stderr: () => stderr };
}

async function stop(s) {
  await s.conn.sendRequest("shutdown");
  await s.conn.sendNotification("exit");
  const code = await s.exited;
  s.conn.dispose();
  // Panics are caught per request, but each one is still a bug.
  assert.doesNotMatch(s.stderr(), /panicked/);
  return code;
}

const MODULE = `(module
  (import "env" "print" (func $print (param i32)))
  (global $count (mut i32) (i32.const 0))
  (func $inc (export "inc") (param $by i32) (result i32)
    (global.set $count (i32.add (global.get $count) (local.get $by)))
    global.get $count
    call $print
    global.get $count)
  (func (export "_start")
    i32.const 2
    call $inc
    drop))
`;

function open(conn, uri, text, languageId = "wat") {
  return conn.sendNotification("textDocument/didOpen", {
    textDocument: { uri, languageId, version: 1, text },
  });
}

/** Line/character of the first occurrence of `needle` (+ `delta` chars). */
function pos(text, needle, delta = 0) {
  const i = text.indexOf(needle);
  assert.ok(i >= 0, `fixture lacks ${needle}`);
  const before = text.slice(0, i + delta);
  const line = before.split("\n").length - 1;
  return { line, character: before.length - before.lastIndexOf("\n") - 1 };
}

test("diagnostics, navigation, editing features, then a clean exit", async () => {
  const s = await start();
  const { conn } = s;
  const caps = s.init.capabilities;
  for (const c of ["hoverProvider", "definitionProvider", "referencesProvider", "renameProvider",
    "completionProvider", "documentSymbolProvider", "semanticTokensProvider", "foldingRangeProvider",
    "documentFormattingProvider", "codeLensProvider", "inlayHintProvider"]) {
    assert.ok(caps[c], `capability ${c}`);
  }

  // A broken module: the error lands on the offending instruction.
  const uri = pathToFileURL(join(scratch, "app.wat")).href;
  const broken = MODULE.replace("global.get $count)\n  (func", "i64.const 1)\n  (func");
  await open(conn, uri, broken);
  let d = await s.nextDiagnostics(uri, (p) => p.version === 1);
  assert.equal(d.diagnostics.length, 1, JSON.stringify(d));
  assert.match(d.diagnostics[0].message, /type mismatch: expected i32, found i64/);
  assert.deepEqual(d.diagnostics[0].range.start, pos(broken, "i64.const 1"));

  // An incremental edit fixes it.
  const edit = pos(broken, "i64.const 1");
  await conn.sendNotification("textDocument/didChange", {
    textDocument: { uri, version: 2 },
    contentChanges: [{ range: { start: edit, end: { line: edit.line, character: edit.character + 11 } }, text: "global.get $count" }],
  });
  d = await s.nextDiagnostics(uri, (p) => p.version === 2);
  assert.deepEqual(d.diagnostics, []);

  const at = (needle, delta = 1) => ({ textDocument: { uri }, position: pos(MODULE, needle, delta) });

  const hover = await conn.sendRequest("textDocument/hover", at("call $inc", 6));
  assert.match(hover.contents.value, /func \$inc \(param \$by i32\) \(result i32\)/);
  assert.match(hover.contents.value, /exported as `"inc"`/);
  const stack = await conn.sendRequest("textDocument/hover", at("i32.add", 2));
  assert.match(stack.contents.value, /\[i32 i32\]` → `\[i32\]/);

  const def = await conn.sendRequest("textDocument/definition", at("call $print", 7));
  assert.deepEqual(def.range.start, pos(MODULE, "$print"));

  const refs = await conn.sendRequest("textDocument/references", {
    ...at("(global $count", 9),
    context: { includeDeclaration: true },
  });
  assert.equal(refs.length, 5);

  const rename = await conn.sendRequest("textDocument/rename", { ...at("(global $count", 9), newName: "$total" });
  assert.equal(rename.changes[uri].length, 5);
  await assert.rejects(
    conn.sendRequest("textDocument/rename", { ...at("(global $count", 9), newName: "not valid" }),
    /not a valid WebAssembly identifier/,
  );

  const withDollar = MODULE.replace("call $print", "call $");
  await conn.sendNotification("textDocument/didChange", {
    textDocument: { uri, version: 3 },
    contentChanges: [{ text: withDollar }],
  });
  const completion = await conn.sendRequest("textDocument/completion", {
    textDocument: { uri },
    position: pos(withDollar, "call $", 6),
  });
  assert.deepEqual(completion.map((c) => c.label).sort(), ["$inc", "$print"]);
  await conn.sendNotification("textDocument/didChange", {
    textDocument: { uri, version: 4 },
    contentChanges: [{ text: MODULE }],
  });

  const symbols = await conn.sendRequest("textDocument/documentSymbol", { textDocument: { uri } });
  assert.deepEqual(symbols[0].children.map((c) => c.name), ["$print", "$count", "$inc", '2 "_start"']);

  const tokens = await conn.sendRequest("textDocument/semanticTokens/full", { textDocument: { uri } });
  assert.ok(tokens.data.length > 50 && tokens.data.length % 5 === 0);
  const legend = caps.semanticTokensProvider.legend.tokenTypes;
  assert.equal(legend[tokens.data[4 + 5 * 0]], "keyword", "`module` is a keyword");

  const folds = await conn.sendRequest("textDocument/foldingRange", { textDocument: { uri } });
  assert.ok(folds.some((f) => f.startLine === 0 && f.endLine === 11), JSON.stringify(folds));

  const lenses = await conn.sendRequest("textDocument/codeLens", { textDocument: { uri } });
  assert.deepEqual(
    lenses.map((l) => `${l.command.command} ${l.command.arguments.slice(1).join()}`),
    ["wasmscope.run inc", "wasmscope.debug inc", "wasmscope.run ", "wasmscope.debug ",
      "wasmscope.run _start", "wasmscope.debug _start"],
  );

  const hints = await conn.sendRequest("textDocument/inlayHint", {
    textDocument: { uri },
    range: { start: pos(MODULE, "i32.const 2"), end: { line: 12, character: 0 } },
  });
  assert.deepEqual(hints.map((h) => h.label.trim()), ["[i32]", "[i32]", "[]"]);

  const messy = "(module\n(func $f\n      nop))\n";
  await conn.sendNotification("textDocument/didChange", {
    textDocument: { uri, version: 5 },
    contentChanges: [{ text: messy }],
  });
  const edits = await conn.sendRequest("textDocument/formatting", {
    textDocument: { uri },
    options: { tabSize: 2, insertSpaces: true },
  });
  assert.equal(edits[0].newText, "(module\n  (func $f\n    nop))\n");

  assert.equal(await stop(s), 0, "exit after shutdown is a clean exit");
});

test("binary modules: disassembly with source lines, errors on the printed line", async () => {
  const s = await start();
  const { conn } = s;
  const app = pathToFileURL(join(root, "tests/fixtures/dbg/app-O0.wasm")).href;
  const r = await conn.sendRequest("wasmscope/disassemble", { uri: app });
  assert.match(r.uri, /^wasmscope-wasm:/);
  assert.match(r.text, /^\(module/);
  const main = r.functions.find((f) => f.name === "parse_header");
  assert.ok(main && main.file.endsWith("app.c") && main.sourceLine > 0, JSON.stringify(r.functions));
  // The disassembly is a document like any other: hover works in it.
  const line = r.text.split("\n").findIndex((l) => l.includes("i32.add"));
  const hover = await conn.sendRequest("textDocument/hover", {
    textDocument: { uri: r.uri },
    position: { line, character: r.text.split("\n")[line].indexOf("i32.add") + 1 },
  });
  assert.match(hover.contents.value, /operand stack/);

  // An invalid binary: the error is published on the line printing it.
  const badPath = join(scratch, "bad.wasm");
  // (module (func (result i32) i32.const 1 i32.add)), encoded by hand.
  writeFileSync(badPath, Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7f,
    3, 2, 1, 0, 10, 7, 1, 5, 0, 0x41, 1, 0x6a, 0x0b]));
  const bad = await conn.sendRequest("wasmscope/disassemble", { uri: pathToFileURL(badPath).href });
  const d = await s.nextDiagnostics(bad.uri);
  assert.equal(d.diagnostics.length, 1);
  assert.match(bad.text.split("\n")[d.diagnostics[0].range.start.line], /i32.add/);

  await assert.rejects(
    conn.sendRequest("wasmscope/disassemble", { uri: pathToFileURL(join(scratch, "missing.wasm")).href }),
    /missing.wasm/,
  );
  assert.equal(await stop(s), 0);
});

test("bad input never kills the server", async () => {
  const s = await start();
  const { conn } = s;
  // Binary garbage opened as text.
  const garbage = pathToFileURL(join(scratch, "garbage.wat")).href;
  let junk = "";
  for (let i = 0; i < 5000; i++) junk += String.fromCharCode((i * 7919) % 0x2fff);
  await open(conn, garbage, junk);
  const d = await s.nextDiagnostics(garbage);
  assert.ok(d.diagnostics.length >= 1);
  // Unknown documents and positions past the end.
  const nowhere = { textDocument: { uri: "file:///nowhere.wat" }, position: { line: 99, character: 99 } };
  assert.equal(await conn.sendRequest("textDocument/hover", nowhere), null);
  const far = { textDocument: { uri: garbage }, position: { line: 100000, character: 5 } };
  await conn.sendRequest("textDocument/hover", far);
  await conn.sendRequest("textDocument/completion", far);
  // An edit with a range past the end is clamped, not fatal.
  await conn.sendNotification("textDocument/didChange", {
    textDocument: { uri: garbage, version: 2 },
    contentChanges: [{ range: { start: { line: 9999, character: 0 }, end: { line: 99999, character: 9 } }, text: "(module)" }],
  });
  // Unknown methods get an error response.
  await assert.rejects(conn.sendRequest("wasmscope/nonsense", {}), /not found/i);
  // A 50 MB file: diagnostics arrive, and the server answers meanwhile.
  const big = pathToFileURL(join(scratch, "big.wat")).href;
  const unit = "  (func (result i32) i32.const 1 i32.const 2 i32.add)\n";
  const text = "(module\n" + unit.repeat(Math.ceil((50 << 20) / unit.length)) + ")\n";
  await open(conn, big, text);
  const small = pathToFileURL(join(scratch, "small.wat")).href;
  await open(conn, small, MODULE);
  const h = await conn.sendRequest("textDocument/hover", { textDocument: { uri: small }, position: pos(MODULE, "$inc", 1) });
  assert.match(h.contents.value, /func \$inc/);
  const bigDiagnostics = await s.nextDiagnostics(big);
  assert.deepEqual(bigDiagnostics.diagnostics.filter((x) => x.severity === 1), []);
  assert.equal(await stop(s), 0);
});

test(`random edits for ${fuzzSeconds}s: every request is answered`, async () => {
  const s = await start();
  const { conn } = s;
  const uri = pathToFileURL(join(scratch, "fuzz.wat")).href;
  let text = MODULE;
  await open(conn, uri, text);
  let seed = 12345;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pieces = ["(", ")", "$", "$count", " ", "\n", "func", "block", "end", "call", "0", "i32.add",
    ";;", "(;", ";)", "\"", "local.get", "\u{1F600}", "\u0000", "é"];
  const deadline = Date.now() + fuzzSeconds * 1000;
  let version = 1;
  let answered = 0;
  while (Date.now() < deadline) {
    // Edit at a random position, UTF-16 based like an editor.
    const lines = text.split("\n");
    const line = rand(lines.length);
    const character = rand(lines[line].length + 1);
    let insert = "";
    for (let k = rand(4); k >= 0; k--) insert += pieces[rand(pieces.length)];
    const remove = rand(3);
    const end = { line, character: Math.min(lines[line].length, character + remove) };
    lines[line] = lines[line].slice(0, character) + insert + lines[line].slice(end.character);
    text = lines.join("\n");
    version += 1;
    await conn.sendNotification("textDocument/didChange", {
      textDocument: { uri, version },
      contentChanges: [{ range: { start: { line, character }, end }, text: insert }],
    });
    const position = { line: rand(lines.length + 2), character: rand(80) };
    const td = { textDocument: { uri } };
    const results = await Promise.all([
      conn.sendRequest("textDocument/hover", { ...td, position }),
      conn.sendRequest("textDocument/completion", { ...td, position }),
      conn.sendRequest("textDocument/definition", { ...td, position }),
      conn.sendRequest("textDocument/references", { ...td, position, context: { includeDeclaration: true } }),
      conn.sendRequest("textDocument/documentSymbol", td),
      conn.sendRequest("textDocument/semanticTokens/full", td),
      conn.sendRequest("textDocument/inlayHint", { ...td, range: { start: { line: 0, character: 0 }, end: { line: 999, character: 0 } } }),
      conn.sendRequest("textDocument/formatting", { ...td, options: { tabSize: 2, insertSpaces: true } }),
    ]);
    answered += results.length;
  }
  assert.ok(answered > 0);
  // The server's copy of the text is the client's: its diagnostics are for
  // the final version, and formatting returns the text we hold.
  const d = await s.nextDiagnostics(uri, (p) => p.version === version);
  assert.equal(d.version, version);
  assert.equal(await stop(s), 0, s.stderr());
});

test("exit without shutdown exits with 1", async () => {
  const s = await start();
  await s.conn.sendNotification("exit");
  assert.equal(await s.exited, 1);
  s.conn.dispose();
});
