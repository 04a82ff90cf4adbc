// The externref view's logic, offline: the parser on the adapter's text,
// and collect() + the tree over DAP answers recorded from the real binary
// (test/fixtures/dap-externrefs.json, written by launch.test.ts with
// WASMSCOPE_RECORD=1 and checked against the live binary on every run).
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { collect, parseExternref, shortType, type Request } from "../src/references";
import { HEX_EDITOR, HEX_EDITOR_VIEW, ReferencesView, memoryUri, openMemory, trackerFactory, type Node } from "../src/referencesView";
import { FIXTURES } from "./helpers";

interface Exchange {
  command: string;
  args: Record<string, unknown>;
  body: unknown;
}

const recorded = JSON.parse(fs.readFileSync(path.join(FIXTURES, "dap-externrefs.json"), "utf8")) as Exchange[];

/** Answers requests from the recording, each exchange once, in any order. */
function replay(exchanges: Exchange[] = recorded): Request & { calls: string[] } {
  const unused = [...exchanges];
  const calls: string[] = [];
  const request = (command: string, args: Record<string, unknown>) => {
    calls.push(`${command} ${JSON.stringify(args)}`);
    const i = unused.findIndex((e) => e.command === command && JSON.stringify(e.args) === JSON.stringify(args));
    if (i < 0) {
      return Promise.reject(new Error(`not recorded: ${command} ${JSON.stringify(args)}`));
    }
    return Promise.resolve(unused.splice(i, 1)[0].body);
  };
  return Object.assign(request, { calls });
}

function session(request: Request, id = "s1"): vscode.DebugSession {
  return {
    id,
    type: "wasmscope",
    customRequest: (command: string, args: Record<string, unknown>) => request(command, args),
  } as unknown as vscode.DebugSession;
}

afterEach(() => {
  vi.clearAllMocks();
});

describe("parseExternref", () => {
  test("the adapter's rendering: address, count, type, Debug text", () => {
    expect(
      parseExternref("externref 0x7f0a30008108 (count 4, wasmscope_engine::host::StubHandle) host.make#1"),
    ).toEqual({ address: "0x7f0a30008108", count: 4, typeName: "wasmscope_engine::host::StubHandle", rendering: "host.make#1" });
  });
  test("no Debug rendering", () => {
    expect(parseExternref("externref 0x10 (count 1, my::Opaque)")).toEqual({
      address: "0x10",
      count: 1,
      typeName: "my::Opaque",
    });
  });
  test("type names with brackets and a rendering with parentheses", () => {
    expect(parseExternref("externref 0xab (count 2, alloc::vec::Vec<(u8, [u16; 2])>) [(1, [2, 3])]")).toEqual({
      address: "0xab",
      count: 2,
      typeName: "alloc::vec::Vec<(u8, [u16; 2])>",
      rendering: "[(1, [2, 3])]",
    });
    expect(parseExternref("externref 0x1 (count 3, fn(i32) -> i64) f")).toMatchObject({ typeName: "fn(i32) -> i64" });
  });
  test("null and other values", () => {
    expect(parseExternref("null")).toBeNull();
    expect(parseExternref("42")).toBeUndefined();
    expect(parseExternref("add (func 2)")).toBeUndefined();
    expect(parseExternref("externref 0x1 (count 3, unclosed<")).toBeUndefined();
  });
  test("shortType keeps the last path segment", () => {
    expect(shortType("wasmscope_engine::host::StubHandle")).toBe("StubHandle");
    expect(shortType("a::Handle<b::C>")).toBe("Handle<b::C>");
    expect(shortType("u32")).toBe("u32");
  });
});

describe("collect over recorded DAP answers", () => {
  test("locals, globals, table slots and memories of the paused frame", async () => {
    const request = replay();
    const s = await collect(request, { id: 0, name: "_start" });
    expect(s.groups.map((g) => [g.scope, g.label, g.entries.map((e) => e.name)])).toEqual([
      ["Wasm locals", "Wasm locals", ["$r"]],
      ["Wasm globals", "Wasm globals", ["$g"]],
      ["Tables", "table0", ["[1]"]],
    ]);
    expect(s.groups[0].entries[0].ref).toEqual({
      address: "0x7fee00001000",
      count: expect.any(Number) as number,
      typeName: "wasmscope_engine::host::StubHandle",
      rendering: "host.make#1",
    });
    expect(s.memories).toEqual([{ name: "memory0", value: "1 pages (65536 bytes)", memoryReference: "0x0" }]);
    // The operand stack (expensive, types only) is never read; the table is read as one page.
    expect(request.calls).not.toContain('variables {"variablesReference":2}');
    expect(request.calls).toContain('variables {"variablesReference":7,"start":0,"count":2}');
  });

  test("tables are read up to the limit", async () => {
    const calls: Record<string, unknown>[] = [];
    const request: Request = (command, args) => {
      calls.push({ command, ...args });
      if (command === "scopes") {
        return Promise.resolve({ scopes: [{ name: "Tables", variablesReference: 1, expensive: false }] });
      }
      if (args.variablesReference === 1) {
        return Promise.resolve({
          variables: [{ name: "table0", value: "5000 × externref", type: "table of externref", variablesReference: 2, indexedVariables: 5000 }],
        });
      }
      return Promise.resolve({
        variables: [{ name: "[7]", value: "externref 0x1 (count 1, T)", type: "externref", variablesReference: 0 }],
      });
    };
    const s = await collect(request, { id: 0, name: "f" }, 100);
    expect(calls).toContainEqual({ command: "variables", variablesReference: 2, start: 0, count: 100 });
    expect(s.groups[0].description).toBe("5000 slots, 1 non-null (first 100 read)");
  });

  test("null locals are listed as null, funcref tables are skipped", async () => {
    const request: Request = (command, args) => {
      if (command === "scopes") {
        return Promise.resolve({ scopes: [{ name: "Wasm locals", variablesReference: 1 }, { name: "Tables", variablesReference: 2 }] });
      }
      return Promise.resolve(
        args.variablesReference === 1
          ? { variables: [{ name: "$x", value: "null", type: "externref", variablesReference: 0 }, { name: "$i", value: "1", type: "i32", variablesReference: 0 }] }
          : { variables: [{ name: "table0", value: "1 × funcref", type: "table of funcref", variablesReference: 3, indexedVariables: 1 }] },
      );
    };
    const s = await collect(request, { id: 0, name: "f" });
    expect(s.groups).toEqual([{ label: "Wasm locals", scope: "Wasm locals", entries: [{ name: "$x", value: "null", ref: null }] }]);
  });
});

describe("references tree view", () => {
  test("tree items: groups expanded, refs with their fields, memory opens the inspector", async () => {
    const view = new ReferencesView();
    const onChange = vi.fn();
    view.onDidChangeTreeData(onChange);
    const request = replay();
    await view.refresh(session(request), { threadId: 1 });
    expect(request.calls[0]).toBe('stackTrace {"threadId":1,"startFrame":0,"levels":1}');
    expect(onChange).toHaveBeenCalledTimes(1);

    const roots = view.getChildren();
    expect(roots.map((n) => view.getTreeItem(n).label)).toEqual(["Wasm locals", "Wasm globals", "table0", "Linear memory"]);
    expect(view.getTreeItem(roots[2]).description).toBe("2 slots, 1 non-null");
    const [local] = view.getChildren(roots[0]);
    const item = view.getTreeItem(local);
    expect(item.label).toBe("$r");
    expect(item.description).toMatch(/^StubHandle · count \d+ · host\.make#1$/);
    expect(item.contextValue).toBe("externref");
    expect(item.collapsibleState).toBe(vscode.TreeItemCollapsibleState.Collapsed);
    const fields = view.getChildren(local).map((n) => view.getTreeItem(n));
    expect(fields.map((f) => [f.label, f.description])).toEqual([
      ["address", "0x7fee00001000"],
      ["count", expect.stringMatching(/^\d+$/) as string],
      ["type", "wasmscope_engine::host::StubHandle"],
      ["rendering", "host.make#1"],
    ]);

    const [memory] = view.getChildren(roots[3]);
    const memoryItem = view.getTreeItem(memory);
    expect(memoryItem.contextValue).toBe("memory");
    expect(memoryItem.command).toMatchObject({ command: "wasmscope.openMemory", arguments: [memory] });
  });

  test("resumed, ended or failing sessions", async () => {
    const view = new ReferencesView();
    await view.refresh(session(replay()), { threadId: 1 });
    expect(view.getChildren()).toHaveLength(4);
    view.clear(session(replay(), "other"));
    expect(view.getChildren()).toHaveLength(4);
    view.clear(session(replay(), "s1"));
    expect(view.getChildren()).toEqual([]);

    await view.refresh(session(() => Promise.reject(new Error("no program is running"))), { frameId: 0 });
    expect(view.getChildren()).toEqual([{ kind: "message", text: "Could not read the paused frame: no program is running" }]);

    // Other debuggers' sessions are not read.
    const foreign = { id: "x", type: "node", customRequest: vi.fn() } as unknown as vscode.DebugSession;
    await view.refresh(foreign);
    expect(foreign.customRequest).not.toHaveBeenCalled();
  });

  test("the tracker refreshes on stopped and clears on continued/exited", () => {
    const view = new ReferencesView();
    const refresh = vi.spyOn(view, "refresh").mockResolvedValue();
    const clear = vi.spyOn(view, "clear");
    const s = session(replay());
    const tracker = trackerFactory(view).createDebugAdapterTracker(s) as vscode.DebugAdapterTracker;
    tracker.onDidSendMessage?.({ type: "event", event: "stopped", body: { reason: "breakpoint", threadId: 1 } });
    expect(refresh).toHaveBeenCalledWith(s, { threadId: 1 });
    tracker.onDidSendMessage?.({ type: "event", event: "output", body: {} });
    tracker.onDidSendMessage?.({ type: "response", command: "continue" });
    expect(clear).not.toHaveBeenCalled();
    tracker.onDidSendMessage?.({ type: "event", event: "continued", body: { threadId: 1 } });
    tracker.onDidSendMessage?.({ type: "event", event: "exited", body: { exitCode: 0 } });
    expect(clear).toHaveBeenCalledTimes(2);
  });

  test("openMemory: the debug memory URI in the hex editor, or an offer to install it", async () => {
    const s = session(replay());
    const node: Node = { kind: "memory", memory: { name: "memory0", value: "", memoryReference: "0x0" }, session: s };
    const uri = memoryUri(s, "0x0", "memory0");
    expect(uri.toString()).toBe("vscode-debug-memory://s1/0x0/memory0.bin");

    vi.mocked(vscode.extensions.getExtension).mockReturnValue({} as vscode.Extension<unknown>);
    await openMemory(node);
    const [command, opened, editor] = vi.mocked(vscode.commands.executeCommand).mock.calls[0] as [string, vscode.Uri, string];
    expect([command, opened.toString(), editor]).toEqual(["vscode.openWith", uri.toString(), HEX_EDITOR_VIEW]);

    vi.clearAllMocks();
    vi.mocked(vscode.extensions.getExtension).mockReturnValue(undefined);
    await openMemory(node);
    expect(vscode.window.showInformationMessage).toHaveBeenCalledWith(expect.stringContaining(HEX_EDITOR), "Install Hex Editor");
    expect(vscode.commands.executeCommand).not.toHaveBeenCalled();
  });
});
