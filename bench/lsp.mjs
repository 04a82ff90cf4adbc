// Latency of `wasmscope lsp` as an editor sees it: time from the client
// sending an edit to the server's diagnostics for it, through Microsoft's
// LSP client library. Cases:
//   wat-1mb    didChange of a 1 MB .wat module (valid, so lints run too)
//   wasm-10mb  didSave of a 10 MB binary module on disk (validation)
//   disasm-10mb `wasmscope/disassemble` of that binary (text + errors)
// Edit latencies include the server's 10 ms debounce: that is what the user
// waits.
//
//   npm ci --prefix tests/node && cargo build --release
//   node bench/lsp.mjs [RUNS]       # default 15 runs per case
//
// Prints the median and min/max of each case in milliseconds.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "tests/node/package.json"));
const rpc = require("vscode-languageserver-protocol/node.js");
const binary = process.env.WASMSCOPE ?? join(root, "target/release/wasmscope");
const runs = Number(process.argv[2] ?? "15");
const dir = mkdtempSync(join(tmpdir(), "wasmscope-lsp-bench-"));

/** A valid module of about `bytes` bytes of text. */
function watModule(bytes) {
  const parts = ["(module\n  (memory 1)\n  (global $acc (mut i32) (i32.const 0))\n"];
  let size = parts[0].length;
  for (let i = 0; size < bytes; i++) {
    const f = `  (func $f${i} (export "f${i}") (param $x i32) (result i32) (local $t i32)
    local.get $x
    i32.const ${i}
    i32.add
    local.tee $t
    global.get $acc
    i32.xor
    global.set $acc
    (i32.load offset=4 (local.get $t))
    local.get $t
    i32.mul)\n`;
    parts.push(f);
    size += f.length;
  }
  parts.push(")\n");
  return parts.join("");
}

function leb(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** A valid binary of about `bytes` bytes: many `(func (result i32) ...)`. */
function wasmModule(bytes) {
  // Body: i32.const 1; (i32.const k; i32.add) * 40; end
  const body = [0, 0x41, 1];
  for (let k = 0; k < 40; k++) body.push(0x41, ...leb(k), 0x6a);
  body.push(0x0b);
  const entry = [...leb(body.length), ...body];
  const count = Math.ceil(bytes / entry.length);
  const section = (id, payload) => [id, ...leb(payload.length), ...payload];
  const types = section(1, [1, 0x60, 0, 1, 0x7f]);
  const funcs = section(3, [...leb(count), ...new Array(count).fill(0)]);
  const codePayload = [...leb(count)];
  const code = Buffer.alloc(codePayload.length + entry.length * count);
  Buffer.from(codePayload).copy(code, 0);
  for (let i = 0; i < count; i++) Buffer.from(entry).copy(code, codePayload.length + i * entry.length);
  const codeHeader = Buffer.from([10, ...leb(code.length)]);
  return Buffer.concat([
    Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
    Buffer.from(types),
    Buffer.from(funcs),
    codeHeader,
    code,
  ]);
}

async function main() {
  const child = spawn(binary, ["lsp"], { stdio: ["pipe", "pipe", "inherit"] });
  const conn = rpc.createProtocolConnection(
    new rpc.StreamMessageReader(child.stdout),
    new rpc.StreamMessageWriter(child.stdin),
  );
  let waiting = null;
  conn.onNotification("textDocument/publishDiagnostics", (p) => {
    if (waiting && waiting.uri === p.uri && (waiting.version == null || p.version === waiting.version)) {
      const w = waiting;
      waiting = null;
      w.resolve(p);
    }
  });
  conn.listen();
  await conn.sendRequest("initialize", { processId: process.pid, rootUri: null, capabilities: {} });
  await conn.sendNotification("initialized", {});
  const diagnosticsFor = (uri, version) => new Promise((resolve) => (waiting = { uri, version, resolve }));

  const results = {};
  const time = async (name, once) => {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      await once(i);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    samples.sort((a, b) => a - b);
    results[name] = samples;
    const median = samples[Math.floor(samples.length / 2)];
    console.log(`${name.padEnd(12)} median ${median.toFixed(1)} ms  (min ${samples[0].toFixed(1)}, max ${samples.at(-1).toFixed(1)}, ${runs} runs)`);
  };

  // 1 MB .wat: each edit changes one constant, so every run re-analyses.
  const wat = watModule(1 << 20);
  const watUri = pathToFileURL(join(dir, "big.wat")).href;
  let version = 1;
  const opened = diagnosticsFor(watUri, 1);
  await conn.sendNotification("textDocument/didOpen", { textDocument: { uri: watUri, languageId: "wat", version, text: wat } });
  const first = await opened;
  const checkValid = (d) => {
    if (d.diagnostics.some((x) => x.severity === 1)) throw new Error(JSON.stringify(d.diagnostics[0]));
  };
  if (first.diagnostics.some((d) => d.severity === 1)) throw new Error(JSON.stringify(first.diagnostics[0]));
  console.log(`wat module: ${(wat.length / 1e6).toFixed(2)} MB`);
  await time("wat-1mb", async (i) => {
    version += 1;
    const done = diagnosticsFor(watUri, version);
    await conn.sendNotification("textDocument/didChange", {
      textDocument: { uri: watUri, version },
      contentChanges: [{ range: { start: { line: 5, character: 14 }, end: { line: 5, character: 15 } }, text: String(i % 10) }],
    });
    checkValid(await done);
  });

  const wasm = wasmModule(10 << 20);
  const wasmPath = join(dir, "big.wasm");
  writeFileSync(wasmPath, wasm);
  console.log(`wasm module: ${(wasm.length / 1e6).toFixed(2)} MB`);
  const wasmUri = pathToFileURL(wasmPath).href;
  const openedWasm = diagnosticsFor(wasmUri, 1);
  await conn.sendNotification("textDocument/didOpen", { textDocument: { uri: wasmUri, languageId: "wasm", version: 1, text: "" } });
  await openedWasm;
  await time("wasm-10mb", async () => {
    const done = diagnosticsFor(wasmUri, 1);
    await conn.sendNotification("textDocument/didSave", { textDocument: { uri: wasmUri } });
    const d = await done;
    if (d.diagnostics.length) throw new Error(JSON.stringify(d.diagnostics[0]));
  });
  await time("disasm-10mb", async () => {
    await conn.sendRequest("wasmscope/disassemble", { uri: wasmUri });
  });

  await conn.sendRequest("shutdown");
  await conn.sendNotification("exit");
  conn.dispose();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
