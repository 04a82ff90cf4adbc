// The commands the server's code lenses are bound to, `wasmscope.run` and
// `wasmscope.debug`, with the arguments the server sends ([documentUri] or
// [documentUri, exportName]); and the run task really running.
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { askArguments, debugCommand, runArguments, runCommand, runTask, taskProvider, type RunDefinition } from "../src/commands";
import { textUriOf } from "../src/wasmText";
import { APP_WASM, EXTERNREFS_WAT, openEditor, settings, waitForBinary } from "./helpers";

const deps = { binary: () => "/usr/bin/wasmscope" };

/** The task runCommand executed. */
function executed(): vscode.Task {
  const calls = vi.mocked(vscode.tasks.executeTask).mock.calls;
  expect(calls).toHaveLength(1);
  return calls[0][0];
}

function commandLine(task: vscode.Task): string[] {
  const e = task.execution as vscode.ProcessExecution;
  return [e.process, ...e.args];
}

beforeEach(() => {
  settings({});
});

afterEach(() => {
  openEditor(undefined);
  vi.clearAllMocks();
});

describe("wasmscope.run", () => {
  test("code lens on a module exporting _start: [uri]", async () => {
    await runCommand(deps, vscode.Uri.file("/p/m.wat").toString());
    const task = executed();
    expect(commandLine(task)).toEqual(["/usr/bin/wasmscope", "run", "--", "/p/m.wat"]);
    expect((task.execution as vscode.ProcessExecution).options?.cwd).toBe("/p");
    expect(task.definition).toEqual({ type: "wasmscope", program: "/p/m.wat" });
    expect(task.name).toBe("m.wat");
    expect(vscode.window.showInputBox).not.toHaveBeenCalled();
  });

  test("code lens on an export: [uri, name] asks for its arguments", async () => {
    vi.mocked(vscode.window.showInputBox).mockResolvedValue(" 2  3 ");
    await runCommand(deps, "file:///p/m.wat", "add");
    expect(commandLine(executed())).toEqual(["/usr/bin/wasmscope", "run", "--invoke", "add", "--", "/p/m.wat", "2", "3"]);
    expect(vi.mocked(vscode.window.showInputBox).mock.calls[0][0]).toMatchObject({ title: "Arguments of add" });

    // Offered again next time; cancelling runs nothing.
    vi.clearAllMocks();
    vi.mocked(vscode.window.showInputBox).mockResolvedValue(undefined);
    await runCommand(deps, "file:///p/m.wat", "add");
    expect(vi.mocked(vscode.window.showInputBox).mock.calls[0][0]).toMatchObject({ value: " 2  3 " });
    expect(vscode.tasks.executeTask).not.toHaveBeenCalled();
  });

  test("code lens in the disassembly of a .wasm runs the .wasm; stubImports from the setting", async () => {
    settings({ stubImports: true });
    const virtual = textUriOf(vscode.Uri.file("/p/app.wasm")).toString();
    expect(virtual).toBe("wasmscope-wasm:/p/app.wasm.wat");
    await runCommand(deps, virtual, "_start");
    expect(commandLine(executed())).toEqual(["/usr/bin/wasmscope", "run", "--stub-imports", "--invoke", "_start", "--", "/p/app.wasm"]);
  });

  test("from the explorer (a Uri) and from the palette (the active editor)", async () => {
    await runCommand(deps, vscode.Uri.file("/p/x.wasm"));
    expect(commandLine(executed())).toEqual(["/usr/bin/wasmscope", "run", "--", "/p/x.wasm"]);
    vi.clearAllMocks();
    openEditor(vscode.Uri.file("/p/y.wat"));
    await runCommand(deps);
    expect(commandLine(executed())).toEqual(["/usr/bin/wasmscope", "run", "--", "/p/y.wat"]);
  });

  test("no binary: nothing runs", async () => {
    await runCommand({ binary: () => undefined }, "file:///p/m.wat");
    expect(vscode.tasks.executeTask).not.toHaveBeenCalled();
  });

  test("tasks.json tasks of type wasmscope are resolved", () => {
    const definition: RunDefinition = { type: "wasmscope", program: "/p/m.wat", invoke: "add", args: ["1", "2"], stubImports: true };
    const input = new vscode.Task(definition, vscode.TaskScope.Workspace, "t", "wasmscope");
    const resolved = taskProvider(() => "/b/wasmscope").resolveTask(input, {} as vscode.CancellationToken) as vscode.Task;
    expect(commandLine(resolved)).toEqual(["/b/wasmscope", "run", "--stub-imports", "--invoke", "add", "--", "/p/m.wat", "1", "2"]);
    expect(taskProvider(() => undefined).resolveTask(input, {} as vscode.CancellationToken)).toBeUndefined();
  });
});

describe("wasmscope.debug", () => {
  test("code lens [uri]: a launch of the module", async () => {
    await debugCommand("file:///p/m.wat");
    expect(vscode.debug.startDebugging).toHaveBeenCalledWith(undefined, {
      type: "wasmscope",
      request: "launch",
      name: "Debug m.wat",
      program: "/p/m.wat",
      cwd: "/p",
    });
  });

  test("code lens [uri, name]: invoke with the arguments given", async () => {
    settings({ stubImports: true });
    vi.mocked(vscode.window.showInputBox).mockResolvedValue("7");
    await debugCommand("wasmscope-wasm:/p/app.wasm.wat", "square");
    expect(vscode.debug.startDebugging).toHaveBeenCalledWith(undefined, {
      type: "wasmscope",
      request: "launch",
      name: "Debug square (app.wasm)",
      program: "/p/app.wasm",
      cwd: "/p",
      invoke: "square",
      stubImports: true,
      args: ["7"],
    });
  });

  test("askArguments: none for _start", async () => {
    expect(await askArguments("/p/m.wat", undefined)).toEqual([]);
    expect(await askArguments("/p/m.wat", "_start")).toEqual([]);
    vi.mocked(vscode.window.showInputBox).mockResolvedValue("");
    expect(await askArguments("/p/m.wat", "noargs")).toEqual([]);
  });
});

describe("the run task's command line, run for real", () => {
  const run = promisify(execFile);

  test("a WASI program", async () => {
    const binary = await waitForBinary();
    const task = runTask(binary, { type: "wasmscope", program: APP_WASM });
    const [command, ...args] = commandLine(task);
    const { stdout } = await run(command, args, { cwd: (task.execution as vscode.ProcessExecution).options?.cwd });
    expect(stdout).toContain("area=12 sum=60");
  });

  test("an export with arguments and stubbed imports", async () => {
    const binary = await waitForBinary();
    const args = runArguments({ type: "wasmscope", program: EXTERNREFS_WAT, invoke: "add", args: ["2", "3"], stubImports: true });
    const { stdout } = await run(binary, args, { cwd: path.dirname(EXTERNREFS_WAT) });
    expect(stdout.trim()).toBe("5");
  });
});
