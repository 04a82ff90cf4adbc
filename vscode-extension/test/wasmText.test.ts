// .wasm as text, against the real `wasmscope lsp`: the virtual document's
// content is the server's disassembly, the server publishes diagnostics
// under the very URI VS Code gives the document, functions with DWARF get
// lenses to their source; and the custom editor hands over to the text.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from "vscode-jsonrpc/node";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { syncMiddleware } from "../src/sync";
import { SCHEME, VIEW_TYPE, WasmEditorProvider, WasmTextProvider, textUriOf, wasmUriOf } from "../src/wasmText";
import { APP_C, APP_WASM, setTabGroup, waitForBinary } from "./helpers";

interface Published {
  uri: string;
  diagnostics: { message: string; range: { start: { line: number } } }[];
}

let server: ChildProcess;
let connection: MessageConnection;
let scratch: string;
const published: Published[] = [];

beforeAll(async () => {
  const binary = await waitForBinary();
  server = spawn(binary, ["lsp"], { stdio: ["pipe", "pipe", "inherit"] });
  connection = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
  connection.onNotification("textDocument/publishDiagnostics", (p: Published) => {
    published.push(p);
  });
  connection.listen();
  await connection.sendRequest("initialize", { processId: process.pid, rootUri: null, capabilities: {} });
  await connection.sendNotification("initialized", {});
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "wasmscope-text-"));
});

afterAll(async () => {
  await connection.sendRequest("shutdown").catch(() => undefined);
  await connection.sendNotification("exit").catch(() => undefined);
  connection.dispose();
  server.kill();
  fs.rmSync(scratch, { recursive: true, force: true });
});

afterEach(() => {
  vi.clearAllMocks();
});

function provider(): WasmTextProvider {
  return new WasmTextProvider(() => Promise.resolve((method: string, params: unknown) => connection.sendRequest(method, params)));
}

async function diagnosticsFor(uri: string): Promise<Published> {
  for (let i = 0; i < 100; i++) {
    const p = published.find((x) => x.uri === uri);
    if (p) {
      return p;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no diagnostics for ${uri}; got ${published.map((p) => p.uri).join(", ")}`);
}

/** (module (func (result i32) i32.const 1 i32.add)): invalid, encoded by hand. */
const INVALID = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7f, 3, 2, 1, 0, 10, 7, 1, 5, 0, 0x41, 1, 0x6a, 0x0b]);

describe("the disassembly document", () => {
  test("URIs: file ↔ wasmscope-wasm", () => {
    const wasm = vscode.Uri.file("/p/app.wasm");
    const text = textUriOf(wasm);
    expect(text.toString()).toBe("wasmscope-wasm:/p/app.wasm.wat");
    expect(text.scheme).toBe(SCHEME);
    expect(wasmUriOf(text).toString()).toBe(wasm.toString());
  });

  test("app-O0.wasm: the server's text, and lenses from functions to their C source", async () => {
    const p = provider();
    const uri = textUriOf(vscode.Uri.file(APP_WASM));
    const text = await p.provideTextDocumentContent(uri);
    expect(text).toMatch(/^\(module/);
    expect(text).toContain("i32.add");
    // The server keeps it under the same URI: no didOpen needed.
    expect(p.servedByServer(uri)).toBe(true);
    const lenses = p.provideCodeLenses({ uri } as vscode.TextDocument);
    // DWARF says /wasmscope-fixtures/app.c (where it was built); it is found beside the module.
    const area = lenses.find((l) => l.command?.title === "Source: app.c:20");
    expect(area, lenses.map((l) => l.command?.title).join(", ")).toBeDefined();
    const [source, options] = area!.command!.arguments as [vscode.Uri, { selection: vscode.Range }];
    expect(source.fsPath).toBe(APP_C);
    expect(options.selection.start.line).toBe(19);
    // The lens is on the function's first instruction, below its header.
    const lines = text.split("\n").slice(0, area!.range.start.line + 1);
    expect(lines.reverse().find((l) => l.includes("(func"))).toMatch(/\(func \$area\b/);
    // The hover the server gives on it (it holds the document).
    const line = text.split("\n").findIndex((l) => l.includes("i32.add"));
    const hover = await connection.sendRequest<{ contents: { value: string } }>("textDocument/hover", {
      textDocument: { uri: uri.toString() },
      position: { line, character: text.split("\n")[line].indexOf("i32.add") + 1 },
    });
    expect(hover.contents.value).toMatch(/operand stack/);
  });

  test("an invalid module: the error is published under the document's URI, on the printed line", async () => {
    const file = path.join(scratch, "bad.wasm");
    fs.writeFileSync(file, INVALID);
    const p = provider();
    const uri = textUriOf(vscode.Uri.file(file));
    const text = await p.provideTextDocumentContent(uri);
    const d = await diagnosticsFor(uri.toString());
    expect(d.diagnostics).toHaveLength(1);
    expect(d.diagnostics[0].message).toMatch(/type mismatch/);
    expect(text.split("\n")[d.diagnostics[0].range.start.line]).toMatch(/i32\.add/);
  });

  test("a path URIs escape: the server's key differs, so the client must open the document itself", async () => {
    const file = path.join(scratch, "with space.wasm");
    fs.writeFileSync(file, INVALID);
    const p = provider();
    const uri = textUriOf(vscode.Uri.file(file));
    expect(await p.provideTextDocumentContent(uri)).toMatch(/^\(module/);
    expect(p.servedByServer(uri)).toBe(false);
  });

  test("the client sends didOpen/didChange only for documents the server does not hold", async () => {
    const p = provider();
    const held = textUriOf(vscode.Uri.file(APP_WASM));
    const escaped = textUriOf(vscode.Uri.file(path.join(scratch, "with space.wasm")));
    fs.writeFileSync(escaped.fsPath.replace(/\.wat$/, ""), INVALID);
    await p.provideTextDocumentContent(held);
    await p.provideTextDocumentContent(escaped);
    const middleware = syncMiddleware((uri) => uri.scheme === SCHEME && p.servedByServer(uri));
    const sent: string[] = [];
    const next = (what: string) => (x: { uri?: vscode.Uri; document?: { uri: vscode.Uri } }) => {
      sent.push(`${what} ${(x.uri ?? x.document!.uri).toString()}`);
      return Promise.resolve();
    };
    const wat = vscode.Uri.file("/p/m.wat");
    for (const uri of [held, escaped, wat]) {
      await middleware.didOpen!({ uri } as vscode.TextDocument, next("open"));
      await middleware.didChange!({ document: { uri } } as vscode.TextDocumentChangeEvent, next("change"));
    }
    expect(sent).toEqual([`open ${escaped.toString()}`, `change ${escaped.toString()}`, `open ${wat.toString()}`, `change ${wat.toString()}`]);
  });

  test("a missing or unreadable file: the reason, as a comment", async () => {
    const p = provider();
    const uri = textUriOf(vscode.Uri.file(path.join(scratch, "missing.wasm")));
    const text = await p.provideTextDocumentContent(uri);
    expect(text).toMatch(/^;; wasmscope could not disassemble .*missing\.wasm:\n;; .*missing\.wasm/);
    expect(p.servedByServer(uri)).toBe(false);
  });

  test("refresh re-reads an open module", () => {
    const p = provider();
    const fired: string[] = [];
    p.onDidChange((u) => fired.push(u.toString()));
    p.refresh(vscode.Uri.file("/p/app.wasm"));
    expect(fired).toEqual(["wasmscope-wasm:/p/app.wasm.wat"]);
  });
});

describe("the .wasm custom editor", () => {
  function panel() {
    return { webview: { options: {}, html: "" }, viewColumn: 2, dispose: vi.fn() } as unknown as vscode.WebviewPanel;
  }

  test("opens the text in its place and closes its own tab", async () => {
    const wasm = vscode.Uri.file("/p/app.wasm");
    const tab = { input: new vscode.TabInputCustom(wasm, VIEW_TYPE) };
    setTabGroup({ tabs: [tab], activeTab: tab });
    const show = vi.spyOn(vscode.window, "showTextDocument").mockResolvedValue({} as vscode.TextEditor);
    const p = panel();
    const editor = new WasmEditorProvider();
    await editor.resolveCustomEditor(editor.openCustomDocument(wasm), p);
    expect(show.mock.calls[0][0].toString()).toBe("wasmscope-wasm:/p/app.wasm.wat");
    expect(show.mock.calls[0][1]).toEqual({ viewColumn: 2 });
    expect(vscode.window.tabGroups.close).toHaveBeenCalledWith([tab]);
    expect(p.dispose).not.toHaveBeenCalled();
  });

  test("when the text cannot be opened, it stays and says why", async () => {
    setTabGroup({ tabs: [] });
    vi.spyOn(vscode.window, "showTextDocument").mockRejectedValue(new Error("boom"));
    const p = panel();
    const editor = new WasmEditorProvider();
    await editor.resolveCustomEditor(editor.openCustomDocument(vscode.Uri.file("/p/x.wasm")), p);
    expect(p.webview.html).toContain("x.wasm could not be opened as WebAssembly text: boom");
    expect(vscode.window.tabGroups.close).not.toHaveBeenCalled();
  });
});
