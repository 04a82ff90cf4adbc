// Shared by the tests: paths, the real binary, editor doubles, a DAP client
// on an adapter process spawned from a DebugAdapterExecutable.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { DebugClient } from "@vscode/debugadapter-testsupport";
import { vi } from "vitest";
import * as vscode from "vscode";

export const EXTENSION = path.resolve(__dirname, "..");
export const ROOT = path.resolve(EXTENSION, "..");
export const FIXTURES = path.join(EXTENSION, "test", "fixtures");
export const DBG = path.join(ROOT, "tests", "fixtures", "dbg");
export const APP_C = path.join(DBG, "app.c");
export const APP_WASM = path.join(DBG, "app-O0.wasm");
export const EXTERNREFS_WAT = path.join(FIXTURES, "externrefs.wat");

/** The wasmscope binary under test: $WASMSCOPE, else the workspace's release build. */
export const BINARY = path.resolve(EXTENSION, process.env.WASMSCOPE ?? "../target/release/wasmscope");

/** Waits (up to 3 minutes) for the binary, which a concurrent build may be replacing. */
export async function waitForBinary(): Promise<string> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      fs.accessSync(BINARY, fs.constants.X_OK);
      return BINARY;
    } catch {
      if (Date.now() > deadline) {
        throw new Error(`${BINARY} is missing: build it (cargo build --release) or set WASMSCOPE`);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/** Makes `uri` the active text editor's document. */
export function openEditor(uri: vscode.Uri | undefined): void {
  const w = vscode.window as { activeTextEditor: unknown };
  w.activeTextEditor = uri ? { document: { uri } } : undefined;
}

/** Makes `group` the only (and active) editor group; its active tab is what a custom editor shows. */
export function setTabGroup(group: { tabs: unknown[]; activeTab?: unknown }): void {
  (vscode.window.tabGroups as unknown as { all: unknown[] }).all = [{ isActive: true, viewColumn: 1, ...group }];
}

/** `wasmscope.*` settings as the extension reads them. */
export function settings(values: Record<string, unknown>): void {
  vi.mocked(vscode.workspace.getConfiguration).mockImplementation(
    () =>
      ({
        get: (key: string, fallback?: unknown) => (key in values ? values[key] : fallback),
      }) as unknown as vscode.WorkspaceConfiguration,
  );
}

export function folder(dir: string): vscode.WorkspaceFolder {
  return { uri: vscode.Uri.file(dir), name: path.basename(dir), index: 0 };
}

/** DebugClient on a process this test spawned (DebugClient.start spawns with one argument only). */
export class AdapterClient extends DebugClient {
  process: ChildProcess | undefined;
  stderr = "";

  constructor() {
    super("unused", "unused", "wasmscope");
    this.defaultTimeout = 30_000;
  }

  spawn(executable: vscode.DebugAdapterExecutable): void {
    const options = executable.options ?? {};
    const child = spawn(executable.command, executable.args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stderr.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.process = child;
    this.connect(child.stdout, child.stdin);
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.disconnectRequest({}), new Promise((r) => setTimeout(r, 3000))]);
    } catch {
      // Already gone.
    }
    this.process?.kill();
  }
}
