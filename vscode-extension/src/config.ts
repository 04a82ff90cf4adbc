// Launch configurations of the `wasmscope` debug type: the initial ones for
// a new launch.json, and F5 with no launch.json on an open .wasm, .wat or a
// C/C++/Rust source with a .wasm beside it.
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import { isModule, isSource, programCandidates, siblingModules } from "./modules";
import { SCHEME, VIEW_TYPE, textUriOf, wasmUriOf } from "./wasmText";

export const DEBUG_TYPE = "wasmscope";

/** The launch arguments `wasmscope dap` reads (see package.json for their schema). */
export interface LaunchConfiguration extends vscode.DebugConfiguration {
  program?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  dirs?: string[];
  stopOnEntry?: boolean;
  stubImports?: boolean;
  invoke?: string;
  sourceMap?: Record<string, string>;
  listingPath?: string;
}

/** The file in the active editor: a text editor's, else a custom editor's (a `.wasm`). */
export function activeResource(): vscode.Uri | undefined {
  const editor = vscode.window.activeTextEditor;
  if (editor) {
    return editor.document.uri;
  }
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputCustom && input.viewType === VIEW_TYPE) {
    return input.uri;
  }
  if (input instanceof vscode.TabInputText) {
    return input.uri;
  }
  return undefined;
}

/**
 * The module file a resource stands for: itself for `.wasm`/`.wat`, the
 * `.wasm` of a disassembly, the `.wasm` beside a source (asking when there
 * are several). Undefined, after telling the user why, when there is none.
 */
export async function moduleOf(uri: vscode.Uri | undefined): Promise<string | undefined> {
  if (!uri) {
    void vscode.window.showErrorMessage(
      "wasmscope: open a .wasm or .wat file, or a C, C++ or Rust source with its .wasm beside it, then try again (or add a launch configuration).",
    );
    return undefined;
  }
  if (uri.scheme === SCHEME) {
    return wasmUriOf(uri).fsPath;
  }
  const file = uri.fsPath;
  if (uri.scheme !== "file") {
    void vscode.window.showErrorMessage(`wasmscope: ${uri.toString()} is not a file on disk; save it first.`);
    return undefined;
  }
  if (isModule(file)) {
    return file;
  }
  if (isSource(file)) {
    return pickSibling(file);
  }
  void vscode.window.showErrorMessage(
    `wasmscope: ${path.basename(file)} is neither a module (.wasm, .wat) nor a C, C++ or Rust source.`,
  );
  return undefined;
}

async function pickSibling(source: string): Promise<string | undefined> {
  const candidates = siblingModules(source);
  if (candidates.length === 1) {
    return candidates[0];
  }
  const stem = path.basename(source, path.extname(source));
  if (candidates.length === 0) {
    void vscode.window.showErrorMessage(
      `wasmscope: no ${stem}.wasm (or ${stem}-*.wasm) beside ${path.basename(source)}. Build it with debug info (clang --target=wasm32-wasi -g -O0 -o ${stem}.wasm ${path.basename(source)}), or add a launch configuration whose "program" is the module.`,
    );
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    candidates.map((c) => ({ label: path.basename(c), description: path.dirname(c), file: c })),
    { placeHolder: `Which module built from ${path.basename(source)}?` },
  );
  return picked?.file;
}

function folderPath(folder: vscode.WorkspaceFolder | undefined, file: string): string {
  const root = folder?.uri.fsPath;
  if (root && (file === root || file.startsWith(root + path.sep))) {
    return "${workspaceFolder}" + file.slice(root.length).split(path.sep).join("/");
  }
  return file;
}

/** A launch configuration for one module file. */
export function configurationFor(
  program: string,
  options: { invoke?: string; stubImports?: boolean } = {},
): LaunchConfiguration {
  const config: LaunchConfiguration = {
    type: DEBUG_TYPE,
    request: "launch",
    name: options.invoke !== undefined ? `Debug ${options.invoke} (${path.basename(program)})` : `Debug ${path.basename(program)}`,
    program,
    cwd: path.dirname(program),
  };
  if (options.invoke !== undefined) {
    config.invoke = options.invoke;
  }
  if (options.stubImports) {
    config.stubImports = true;
  }
  return config;
}

export function stubImportsSetting(): boolean {
  return vscode.workspace.getConfiguration("wasmscope").get<boolean>("stubImports", false) === true;
}

export class ConfigurationProvider implements vscode.DebugConfigurationProvider {
  /** The configurations of a new launch.json: one per module in the folder (at most 5), else a template. */
  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<LaunchConfiguration[]> {
    let modules: vscode.Uri[] = [];
    if (folder) {
      const found = await vscode.workspace.findFiles(
        new vscode.RelativePattern(folder, "**/*.{wasm,wat}"),
        "**/{node_modules,.git}/**",
        20,
      );
      modules = (found ?? []).filter((u) => u.scheme === "file").slice(0, 5);
    }
    if (modules.length === 0) {
      return [
        {
          type: DEBUG_TYPE,
          request: "launch",
          name: "Debug WebAssembly module",
          program: "${workspaceFolder}/app.wasm",
          args: [],
          cwd: "${workspaceFolder}",
          stopOnEntry: false,
        },
      ];
    }
    return modules
      .map((u) => u.fsPath)
      .sort()
      .map((file) => {
        const program = folderPath(folder, file);
        return {
          type: DEBUG_TYPE,
          request: "launch",
          // The path under the folder tells apart modules of the same name.
          name: `Debug ${program.replace(/^\$\{workspaceFolder\}\//, "")}`,
          program,
          args: [],
          cwd: "${workspaceFolder}",
          stopOnEntry: false,
        };
      });
  }

  /**
   * F5 with no launch.json comes here with an empty configuration: debug
   * the module of the active editor. Otherwise fills what is missing.
   */
  async resolveDebugConfiguration(
    folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<LaunchConfiguration | undefined> {
    if (!config.type && !config.request && !config.name) {
      const program = await moduleOf(activeResource());
      if (program === undefined) {
        return undefined;
      }
      return configurationFor(program, { stubImports: stubImportsSetting() });
    }
    const c: LaunchConfiguration = { ...config };
    c.type ??= DEBUG_TYPE;
    c.request ??= "launch";
    c.name ??= "Debug WebAssembly module";
    if (c.request !== "launch") {
      void vscode.window.showErrorMessage(`wasmscope: only "launch" requests are supported, not "${c.request}".`);
      return undefined;
    }
    if (typeof c.program !== "string" || c.program.trim() === "") {
      void vscode.window.showErrorMessage(
        `wasmscope: the launch configuration "${c.name}" has no "program" (the .wasm or .wat to debug).`,
      );
      return undefined;
    }
    if (c.cwd === undefined && folder) {
      c.cwd = folder.uri.fsPath;
    }
    return c;
  }

  /** After `${file}` and friends are substituted: a source or disassembly stands for its module. */
  async resolveDebugConfigurationWithSubstitutedVariables(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<LaunchConfiguration | undefined> {
    const c: LaunchConfiguration = { ...config };
    if (typeof c.program !== "string") {
      return c;
    }
    const base = typeof c.cwd === "string" ? c.cwd : undefined;
    const absoluteOf = (program: string): string => (path.isAbsolute(program) || !base ? program : path.join(base, program));
    const absolute = absoluteOf(c.program);
    if (isSource(absolute)) {
      const program = await pickSibling(absolute);
      if (program === undefined) {
        return undefined;
      }
      c.program = program;
    } else {
      const [program] = programCandidates(absolute, fs.existsSync);
      if (program !== undefined && program !== absolute) {
        c.program = program;
      }
    }
    // Code without DWARF is shown in the .wasm's own text view (the same
    // listing), where the user may already have set breakpoints.
    if (c.listingPath === undefined && c.program.endsWith(".wasm")) {
      c.listingPath = textUriOf(vscode.Uri.file(absoluteOf(c.program))).toString();
    }
    return c;
  }
}
