// `wasmscope.run` and `wasmscope.debug`: the commands of the server's
// "▶ Run" / "Debug" code lenses (arguments `[documentUri]` or
// `[documentUri, exportName]`), of the editor title and explorer menus
// (a URI), and of the command palette (no argument: the active editor).
import * as path from "node:path";
import * as vscode from "vscode";
import { DEBUG_TYPE, activeResource, configurationFor, moduleOf, stubImportsSetting } from "./config";

export const TASK_TYPE = "wasmscope";

/** What a task of type `wasmscope` says (see taskDefinitions in package.json). */
export interface RunDefinition extends vscode.TaskDefinition {
  type: typeof TASK_TYPE;
  program: string;
  invoke?: string;
  args?: string[];
  stubImports?: boolean;
}

/** A command's first argument as a URI: a string from a code lens, a Uri from a menu. */
export function uriArgument(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) {
    return arg;
  }
  // A Uri from another copy of the API (a test double, a bridged command).
  if (typeof arg === "object" && arg !== null && "scheme" in arg && "path" in arg && "with" in arg) {
    return arg as vscode.Uri;
  }
  if (typeof arg === "string" && arg !== "") {
    return vscode.Uri.parse(arg, true);
  }
  return undefined;
}

function exportArgument(arg: unknown): string | undefined {
  return typeof arg === "string" && arg !== "" ? arg : undefined;
}

/** The last arguments given to each export, offered again next time. */
const lastArguments = new Map<string, string>();

/**
 * The arguments of an invoked export (`wasmscope` parses them by its
 * signature): asked for, since a lens does not know the parameters. `[]`
 * for `_start`; undefined when the user cancels.
 */
export async function askArguments(program: string, invoke: string | undefined): Promise<string[] | undefined> {
  if (invoke === undefined || invoke === "_start") {
    return [];
  }
  const key = `${program}#${invoke}`;
  const text = await vscode.window.showInputBox({
    title: `Arguments of ${invoke}`,
    prompt: `Arguments for ${invoke} in ${path.basename(program)}, separated by spaces, one per parameter (empty if it takes none)`,
    placeHolder: "e.g. 2 3",
    value: lastArguments.get(key) ?? "",
  });
  if (text === undefined) {
    return undefined;
  }
  lastArguments.set(key, text);
  return text.split(/\s+/).filter((a) => a !== "");
}

/** `wasmscope run` arguments for a definition. */
export function runArguments(d: RunDefinition): string[] {
  const args = ["run"];
  if (d.stubImports) {
    args.push("--stub-imports");
  }
  if (d.invoke !== undefined) {
    args.push("--invoke", d.invoke);
  }
  args.push("--", d.program, ...(d.args ?? []));
  return args;
}

/** A task that runs a module in the terminal panel. */
export function runTask(binary: string, d: RunDefinition, scope?: vscode.WorkspaceFolder): vscode.Task {
  const name = d.invoke !== undefined ? `${path.basename(d.program)}: ${d.invoke}` : path.basename(d.program);
  const task = new vscode.Task(
    d,
    scope ?? vscode.TaskScope.Workspace,
    name,
    "wasmscope",
    new vscode.ProcessExecution(binary, runArguments(d), { cwd: path.dirname(d.program) }),
    [],
  );
  task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, clear: true };
  return task;
}

/** Resolves tasks of type `wasmscope` written in tasks.json. */
export function taskProvider(binary: () => string | undefined): vscode.TaskProvider {
  return {
    provideTasks: () => [],
    resolveTask(task: vscode.Task): vscode.Task | undefined {
      const d = task.definition as RunDefinition;
      const b = binary();
      if (d.type !== TASK_TYPE || typeof d.program !== "string" || b === undefined) {
        return undefined;
      }
      const scope = typeof task.scope === "object" ? task.scope : undefined;
      return runTask(b, d, scope);
    },
  };
}

export interface CommandDeps {
  /** The binary's path, or undefined after telling the user it is missing. */
  binary(): string | undefined;
}

/** `wasmscope.run [uri] [export]`: runs the module in a task (terminal panel). */
export async function runCommand(deps: CommandDeps, uriArg?: unknown, exportArg?: unknown): Promise<void> {
  const uri = uriArgument(uriArg) ?? activeResource();
  const program = await moduleOf(uri);
  if (program === undefined) {
    return;
  }
  const binary = deps.binary();
  if (binary === undefined) {
    return;
  }
  const definition: RunDefinition = { type: TASK_TYPE, program };
  const invoke = exportArgument(exportArg);
  const args = await askArguments(program, invoke);
  if (args === undefined) {
    return;
  }
  if (invoke !== undefined) {
    definition.invoke = invoke;
  }
  if (args.length > 0) {
    definition.args = args;
  }
  if (stubImportsSetting()) {
    definition.stubImports = true;
  }
  const folder = uri ? vscode.workspace.getWorkspaceFolder(vscode.Uri.file(program)) : undefined;
  await vscode.tasks.executeTask(runTask(binary, definition, folder));
}

/** `wasmscope.debug [uri] [export]`: starts a debug session on the module. */
export async function debugCommand(uriArg?: unknown, exportArg?: unknown): Promise<boolean> {
  const uri = uriArgument(uriArg) ?? activeResource();
  const program = await moduleOf(uri);
  if (program === undefined) {
    return false;
  }
  const invoke = exportArgument(exportArg);
  const args = await askArguments(program, invoke);
  if (args === undefined) {
    return false;
  }
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(program));
  const config = configurationFor(program, { invoke, stubImports: stubImportsSetting() });
  config.type = DEBUG_TYPE;
  if (args.length > 0) {
    config.args = args;
  }
  return vscode.debug.startDebugging(folder, config);
}
