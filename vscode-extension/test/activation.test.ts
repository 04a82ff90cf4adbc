// activate(): what it registers matches package.json, the language server
// starts on the configured binary, and a missing binary is reported with
// its fix and a button to the setting.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import * as client from "../src/client";
import { COMMANDS, activate } from "../src/extension";
import { SCHEME, VIEW_TYPE } from "../src/wasmText";
import { EXTENSION, settings } from "./helpers";

vi.mock("../src/client", () => ({
  startServer: vi.fn(() => Promise.resolve({ request: vi.fn(), stop: vi.fn(() => Promise.resolve()) })),
}));

const manifest = JSON.parse(fs.readFileSync(path.join(EXTENSION, "package.json"), "utf8")) as {
  contributes: { commands: { command: string }[]; views: { debug: { id: string }[] }; debuggers: { type: string }[]; taskDefinitions: { type: string }[] };
};

function context(): vscode.ExtensionContext {
  return { subscriptions: [], extensionPath: "/nonexistent-extension" } as unknown as vscode.ExtensionContext;
}

const flush = () => new Promise((r) => setTimeout(r, 10));

beforeEach(() => {
  vi.mocked(vscode.window.createOutputChannel).mockReturnValue({ appendLine: vi.fn(), dispose: vi.fn() } as unknown as vscode.LogOutputChannel);
  vi.mocked(vscode.workspace.createFileSystemWatcher).mockReturnValue({ onDidChange: vi.fn(), onDidCreate: vi.fn(), dispose: vi.fn() } as unknown as vscode.FileSystemWatcher);
});

afterEach(() => {
  vi.clearAllMocks();
});

describe("activate", () => {
  test("registers every contributed command, the debug type, the views and .wasm as text", async () => {
    settings({ path: process.execPath });
    activate(context());
    await flush();
    const registered = vi.mocked(vscode.commands.registerCommand).mock.calls.map((c) => c[0]);
    expect(registered.sort()).toEqual(manifest.contributes.commands.map((c) => c.command).sort());
    expect([...COMMANDS].sort()).toEqual(registered.sort());

    const type = manifest.contributes.debuggers[0].type;
    expect(vi.mocked(vscode.debug.registerDebugConfigurationProvider).mock.calls.map((c) => [c[0], c[2]])).toEqual([
      [type, undefined],
      [type, vscode.DebugConfigurationProviderTriggerKind.Dynamic],
    ]);
    expect(vi.mocked(vscode.debug.registerDebugAdapterDescriptorFactory).mock.calls[0][0]).toBe(type);
    expect(vi.mocked(vscode.debug.registerDebugAdapterTrackerFactory).mock.calls[0][0]).toBe(type);
    expect(vi.mocked(vscode.tasks.registerTaskProvider).mock.calls[0][0]).toBe(manifest.contributes.taskDefinitions[0].type);
    expect(vi.mocked(vscode.window.createTreeView).mock.calls[0][0]).toBe(manifest.contributes.views.debug[0].id);
    expect(vi.mocked(vscode.workspace.registerTextDocumentContentProvider).mock.calls[0][0]).toBe(SCHEME);
    expect(vi.mocked(vscode.window.registerCustomEditorProvider).mock.calls[0][0]).toBe(VIEW_TYPE);

    // The language server runs on the configured binary.
    expect(vi.mocked(client.startServer).mock.calls[0][0]).toBe(process.execPath);
    expect(vscode.window.showErrorMessage).not.toHaveBeenCalled();
  });

  test("a missing binary: a message naming the setting and the fix, with a button to it", async () => {
    settings({ path: "/no/such/wasmscope" });
    vi.mocked(vscode.window.showErrorMessage).mockResolvedValue("Open Settings" as never);
    const api = activate(context());
    await flush();
    expect(client.startServer).not.toHaveBeenCalled();
    const [message, button] = vi.mocked(vscode.window.showErrorMessage).mock.calls[0] as unknown as [string, string];
    expect(message).toContain("wasmscope.path");
    expect(message).toContain("cargo install --path .");
    expect(button).toBe("Open Settings");
    expect(vscode.commands.executeCommand).toHaveBeenCalledWith("workbench.action.openSettings", { query: "wasmscope.path" });

    // A .wasm opened meanwhile says why it is not shown.
    const text = await api.text.provideTextDocumentContent(vscode.Uri.parse("wasmscope-wasm:/p/app.wasm.wat"));
    expect(text).toMatch(/^;; \/p\/app\.wasm cannot be shown as text\.\n;; The wasmscope binary set in `wasmscope.path` was not found/);
  });

  test("in a remote window (code-server, SSH) the button opens the Remote settings, where a machine setting shows", async () => {
    settings({ path: "/no/such/wasmscope" });
    vi.mocked(vscode.window.showErrorMessage).mockResolvedValue("Open Settings" as never);
    const env = vscode.env as { remoteName?: string };
    env.remoteName = "ssh-remote";
    try {
      activate(context());
      await flush();
      expect(vscode.commands.executeCommand).toHaveBeenCalledWith("workbench.action.openRemoteSettings", { query: "wasmscope.path" });
    } finally {
      delete env.remoteName;
    }
  });

  test("changing wasmscope.path restarts the server", async () => {
    settings({ path: process.execPath });
    activate(context());
    await flush();
    const listener = vi.mocked(vscode.workspace.onDidChangeConfiguration).mock.calls[0][0];
    listener({ affectsConfiguration: (s: string) => s === "wasmscope.path" });
    await flush();
    expect(client.startServer).toHaveBeenCalledTimes(2);
    listener({ affectsConfiguration: () => false });
    await flush();
    expect(client.startServer).toHaveBeenCalledTimes(2);
  });
});
