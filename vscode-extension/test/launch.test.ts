// The launch path, for real: the extension's configuration provider resolves
// F5 on app.c with no launch.json, its DebugAdapterDescriptorFactory says how
// to start the adapter, this test spawns exactly that (`wasmscope dap`), and
// Microsoft's DAP client drives it as VS Code does: initialize, launch,
// initialized, setBreakpoints, configurationDone, stopped, continue, exited.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { AdapterFactory } from "../src/adapter";
import { resolveBinary } from "../src/binary";
import { ConfigurationProvider } from "../src/config";
import { collect, type Request } from "../src/references";
import { ReferencesView, type Node } from "../src/referencesView";
import { APP_C, APP_WASM, AdapterClient, DBG, EXTERNREFS_WAT, FIXTURES, folder, openEditor, settings, waitForBinary } from "./helpers";

let binary: string;
const clients: AdapterClient[] = [];

beforeAll(async () => {
  binary = await waitForBinary();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  openEditor(undefined);
  vi.clearAllMocks();
});

/** The adapter as the extension tells VS Code to start it, with `wasmscope.path` set to the binary. */
function startAdapter(): AdapterClient {
  const missing = vi.fn();
  const factory = new AdapterFactory(() => resolveBinary({ setting: binary, extensionPath: "/nonexistent" }), missing);
  const descriptor = factory.createDebugAdapterDescriptor();
  expect(missing).not.toHaveBeenCalled();
  expect(descriptor).toBeInstanceOf(vscode.DebugAdapterExecutable);
  const executable = descriptor as vscode.DebugAdapterExecutable;
  expect(executable.command).toBe(binary);
  expect(executable.args).toEqual(["dap"]);
  const client = new AdapterClient();
  clients.push(client);
  client.spawn(executable);
  return client;
}

/** F5 with no launch.json, the editor on `file`: the configuration VS Code would launch. */
async function f5(file: string): Promise<vscode.DebugConfiguration> {
  settings({});
  openEditor(vscode.Uri.file(file));
  // The user picks app-O0.wasm among the builds beside app.c.
  vi.mocked(vscode.window.showQuickPick).mockImplementation(((items: { file: string }[]) =>
    Promise.resolve(items.find((i) => i.file === APP_WASM))) as never);
  const provider = new ConfigurationProvider();
  const resolved = await provider.resolveDebugConfiguration(folder(DBG), {} as vscode.DebugConfiguration);
  expect(resolved).toBeDefined();
  const substituted = await provider.resolveDebugConfigurationWithSubstitutedVariables(folder(DBG), resolved!);
  expect(substituted).toBeDefined();
  return substituted!;
}

describe("launch path (real wasmscope dap)", () => {
  test("F5 on app.c: breakpoint on line 21, continue, output and exit code", async () => {
    const config = await f5(APP_C);
    expect(config).toMatchObject({ type: "wasmscope", request: "launch", program: APP_WASM });

    const dc = startAdapter();
    const init = await dc.initializeRequest({ adapterID: "wasmscope", linesStartAt1: true, columnsStartAt1: true, pathFormat: "path" });
    expect(init.body?.supportsConfigurationDoneRequest).toBe(true);
    expect(init.body?.exceptionBreakpointFilters?.map((f) => f.filter)).toContain("traps");

    const initialized = dc.waitForEvent("initialized");
    await dc.launchRequest(config as never);
    await initialized;
    const bps = await dc.setBreakpointsRequest({ source: { path: APP_C }, breakpoints: [{ line: 21 }] });
    expect(bps.body.breakpoints).toMatchObject([{ verified: true, line: 21 }]);
    await dc.setExceptionBreakpointsRequest({ filters: ["traps"] });
    const stopped = dc.waitForEvent("stopped");
    await dc.configurationDoneRequest();
    expect((await stopped).body).toMatchObject({ reason: "breakpoint", threadId: 1 });

    const stack = await dc.stackTraceRequest({ threadId: 1 });
    const top = stack.body.stackFrames[0];
    expect(top).toMatchObject({ name: "area", line: 21 });
    expect(top.source?.path).toBe(APP_C);

    // Memory for the memory inspector: variables carry memoryReference.
    const scopes = (await dc.scopesRequest({ frameId: top.id })).body.scopes;
    const memoryScope = scopes.find((s) => s.name === "Memory");
    expect(memoryScope).toBeDefined();
    const memories = (await dc.variablesRequest({ variablesReference: memoryScope!.variablesReference })).body.variables;
    expect(memories[0]).toMatchObject({ name: "memory0", memoryReference: "0x0" });
    const read = await dc.customRequest("readMemory", { memoryReference: "0x0", offset: 0, count: 16 });
    expect((read.body as { address: string }).address).toBeDefined();

    const output = dc.assertOutput("stdout", "area=12 sum=60");
    const exited = dc.waitForEvent("exited");
    const terminated = dc.waitForEvent("terminated");
    await dc.continueRequest({ threadId: 1 });
    await output;
    expect((await exited).body).toEqual({ exitCode: 0 });
    await terminated;
  });

  test("externrefs: the references view reads a paused .wat module with stubImports", async () => {
    const provider = new ConfigurationProvider();
    const config = await provider.resolveDebugConfiguration(folder(FIXTURES), {
      type: "wasmscope",
      request: "launch",
      name: "externrefs",
      program: "externrefs.wat",
      stubImports: true,
    });
    expect(config).toMatchObject({ cwd: FIXTURES, program: "externrefs.wat", stubImports: true });

    const dc = startAdapter();
    await dc.initializeRequest();
    const initialized = dc.waitForEvent("initialized");
    await dc.launchRequest(config as never);
    await initialized;
    const nop = fs.readFileSync(EXTERNREFS_WAT, "utf8").split("\n").findIndex((l) => l.includes("nop")) + 1;
    const bps = await dc.setBreakpointsRequest({ source: { path: EXTERNREFS_WAT }, breakpoints: [{ line: nop }] });
    expect(bps.body.breakpoints[0].verified).toBe(true);
    const stopped = dc.waitForEvent("stopped");
    await dc.configurationDoneRequest();
    await stopped;

    // Every request the view makes, recorded (for the offline test).
    const recorded: { command: string; args: unknown; body: unknown }[] = [];
    const request: Request = async (command, args) => {
      const body = (await dc.send(command as never, args as never)).body as unknown;
      recorded.push({ command, args, body });
      return body;
    };
    const frame = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    const snapshot = await collect(request, { id: frame.id, name: frame.name });
    const byLabel = Object.fromEntries(snapshot.groups.map((g) => [g.label, g]));
    expect(Object.keys(byLabel).sort()).toEqual(["Wasm globals", "Wasm locals", "table0"]);
    for (const g of snapshot.groups) {
      expect(g.entries).toHaveLength(1);
      expect(g.entries[0].ref).toMatchObject({ count: expect.any(Number) as number, rendering: "host.make#1" });
      expect(g.entries[0].ref?.typeName).toMatch(/StubHandle$/);
      expect(g.entries[0].ref?.address).toMatch(/^0x[0-9a-f]+$/);
    }
    expect(byLabel["Wasm locals"].entries[0].name).toBe("$r");
    expect(byLabel["Wasm globals"].entries[0].name).toBe("$g");
    expect(byLabel.table0.entries[0].name).toBe("[1]");
    expect(byLabel.table0.description).toBe("2 slots, 1 non-null");
    // All three are one host value.
    expect(new Set(snapshot.groups.map((g) => g.entries[0].ref?.address)).size).toBe(1);
    expect(snapshot.memories).toEqual([{ name: "memory0", value: "1 pages (65536 bytes)", memoryReference: "0x0" }]);

    // The tree view over the same session, through customRequest.
    const session = {
      id: "s1",
      type: "wasmscope",
      customRequest: (command: string, args: unknown) => request(command, args as Record<string, unknown>),
    } as unknown as vscode.DebugSession;
    const view = new ReferencesView();
    await view.refresh(session, { threadId: 1 });
    const roots = view.getChildren();
    expect(roots.map((n) => (n.kind === "group" ? n.group.label : n.kind))).toEqual([
      "Wasm locals",
      "Wasm globals",
      "table0",
      "memories",
    ]);
    const memory: Node = view.getChildren(roots[3])[0];
    expect(view.getTreeItem(memory).command?.command).toBe("wasmscope.openMemory");

    // The recorded answers still describe what the binary says.
    // Host addresses vary per run and the checkout's location per machine.
    const normalize = (v: unknown) =>
      JSON.parse(
        JSON.stringify(v)
          .replace(/0x[0-9a-f]{6,}/g, "0x7fee00001000")
          .split(JSON.stringify(FIXTURES).slice(1, -1))
          .join("<fixtures>"),
      ) as unknown;
    const recording = path.join(FIXTURES, "dap-externrefs.json");
    if (process.env.WASMSCOPE_RECORD === "1") {
      fs.writeFileSync(recording, JSON.stringify(normalize(recorded), null, 2) + "\n");
    }
    expect(normalize(recorded)).toEqual(JSON.parse(fs.readFileSync(recording, "utf8")));

    const exited = dc.waitForEvent("exited");
    await dc.continueRequest({ threadId: 1 });
    expect((await exited).body).toEqual({ exitCode: 0 });
  });

  test("invoke with arguments: the export's result is printed", async () => {
    const dc = startAdapter();
    await dc.initializeRequest();
    const initialized = dc.waitForEvent("initialized");
    await dc.launchRequest({ program: EXTERNREFS_WAT, invoke: "add", args: ["2", "3"], stubImports: true } as never);
    await initialized;
    const output = dc.assertOutput("stdout", "5");
    const exited = dc.waitForEvent("exited");
    await dc.configurationDoneRequest();
    await output;
    expect((await exited).body).toEqual({ exitCode: 0 });
  });
});
