// The wasmscope extension: language server for .wat/.wast/.wasm, the
// `wasmscope` debug type, Run/Debug commands, and the references view.
import * as vscode from "vscode";
import { AdapterFactory } from "./adapter";
import { SETTING, resolveBinary, type Resolution } from "./binary";
import { startServer, type Server } from "./client";
import { TASK_TYPE, debugCommand, runCommand, taskProvider, uriArgument } from "./commands";
import { ConfigurationProvider, DEBUG_TYPE, activeResource, configurationFor, stubImportsSetting } from "./config";
import { isModule } from "./modules";
import { ReferencesView, VIEW_ID, openMemory, trackerFactory, type Node } from "./referencesView";
import { SCHEME, VIEW_TYPE, WasmEditorProvider, WasmTextProvider, textUriOf, wasmUriOf, type Requester } from "./wasmText";

let server: Server | undefined;

export const COMMANDS = [
  "wasmscope.run",
  "wasmscope.debug",
  "wasmscope.showDisassembly",
  "wasmscope.restartServer",
  "wasmscope.references.refresh",
  "wasmscope.openMemory",
  "wasmscope.copyValue",
] as const;

export interface Api {
  text: WasmTextProvider;
  view: ReferencesView;
  locate(): Resolution;
}

const OPEN_SETTINGS = "Open Settings";

export function showMissingBinary(message: string): void {
  void vscode.window.showErrorMessage(message, OPEN_SETTINGS).then((choice) => {
    if (choice === OPEN_SETTINGS) {
      // A machine-scoped setting: in a remote window (code-server, SSH,
      // containers) the User tab hides it and only the Remote tab shows it.
      const command = vscode.env.remoteName ? "workbench.action.openRemoteSettings" : "workbench.action.openSettings";
      void vscode.commands.executeCommand(command, { query: SETTING });
    }
  });
}

/**
 * Whether to open Run and Debug when a session starts. With VS Code's
 * default (`debug.openDebug`: open on the first break), the view opens as
 * the program stops, and the Variables view then misses its first
 * refresh: the Locals scope stays collapsed. Open earlier, it expands
 * Locals at the first stop. A user who chose another behaviour keeps it.
 */
export function openDebugViewAtStart(): boolean {
  return vscode.workspace.getConfiguration("debug").get<string>("openDebug", "openOnDebugBreak") === "openOnDebugBreak";
}

export function activate(context: vscode.ExtensionContext): Api {
  const subscriptions = context.subscriptions;
  const output = vscode.window.createOutputChannel("wasmscope");
  subscriptions.push(output);

  const locate = (): Resolution =>
    resolveBinary({
      setting: vscode.workspace.getConfiguration("wasmscope").get<string>("path", "") ?? "",
      extensionPath: context.extensionPath,
      workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    });
  const binary = (): string | undefined => {
    const r = locate();
    if (!r.found) {
      showMissingBinary(r.message);
      return undefined;
    }
    return r.path;
  };

  // The language server, restarted when `wasmscope.path` changes.
  let ready: Promise<Requester | string> = Promise.resolve("The wasmscope language server is not running.");
  const text = new WasmTextProvider(() => ready);
  const start = async (): Promise<Requester | string> => {
    const old = server;
    server = undefined;
    await old?.stop().catch(() => undefined);
    const r = locate();
    if (!r.found) {
      showMissingBinary(r.message);
      return r.message;
    }
    output.appendLine(`wasmscope: ${r.path} (from ${r.origin === "setting" ? SETTING : r.origin === "bundled" ? "the extension" : "PATH"})`);
    try {
      const s = await startServer(r.path, output, (uri) => uri.scheme === SCHEME && text.servedByServer(uri));
      server = s;
      return (method, params) => s.request(method, params);
    } catch (e) {
      const message = `wasmscope lsp (${r.path}) failed to start: ${e instanceof Error ? e.message : String(e)}`;
      void vscode.window.showErrorMessage(message);
      return message;
    }
  };
  const restart = (): void => {
    ready = start();
    // The new server must hold the open disassemblies again.
    void ready.then(() => text.openModules().forEach((m) => text.refresh(m)));
  };
  restart();

  // .wasm files as text.
  subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, text),
    vscode.languages.registerCodeLensProvider({ scheme: SCHEME }, text),
    vscode.window.registerCustomEditorProvider(VIEW_TYPE, new WasmEditorProvider(), {
      supportsMultipleEditorsPerDocument: true,
    }),
    vscode.workspace.onDidCloseTextDocument((d) => {
      if (d.uri.scheme === SCHEME) {
        text.forget(d.uri);
      }
    }),
    text,
  );
  const watcher = vscode.workspace.createFileSystemWatcher("**/*.wasm");
  const reread = (uri: vscode.Uri): void => {
    if (text.openModules().some((m) => m.toString() === uri.toString())) {
      text.refresh(uri);
    }
  };
  subscriptions.push(watcher, watcher.onDidChange(reread), watcher.onDidCreate(reread));

  // The debugger.
  const provider = new ConfigurationProvider();
  const view = new ReferencesView();
  subscriptions.push(
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, provider),
    vscode.debug.registerDebugConfigurationProvider(
      DEBUG_TYPE,
      {
        provideDebugConfigurations() {
          const uri = activeResource();
          if (uri?.scheme === SCHEME) {
            return [configurationFor(wasmUriOf(uri).fsPath, { stubImports: stubImportsSetting() })];
          }
          if (uri?.scheme === "file" && isModule(uri.fsPath)) {
            return [configurationFor(uri.fsPath, { stubImports: stubImportsSetting() })];
          }
          return [];
        },
      },
      vscode.DebugConfigurationProviderTriggerKind.Dynamic,
    ),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new AdapterFactory(locate, showMissingBinary)),
    vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, trackerFactory(view)),
    vscode.tasks.registerTaskProvider(TASK_TYPE, taskProvider(binary)),
    vscode.window.createTreeView(VIEW_ID, { treeDataProvider: view }),
    vscode.debug.onDidChangeActiveStackItem((item) => {
      if (item instanceof vscode.DebugStackFrame && item.session.type === DEBUG_TYPE) {
        void view.refresh(item.session, { frameId: item.frameId });
      }
    }),
    vscode.debug.onDidTerminateDebugSession((s) => view.clear(s)),
    vscode.debug.onDidStartDebugSession((s) => {
      if (s.type === DEBUG_TYPE && openDebugViewAtStart()) {
        void vscode.commands.executeCommand("workbench.view.debug");
      }
    }),
    view,
  );

  // Commands.
  const register = (id: (typeof COMMANDS)[number], f: (...args: unknown[]) => unknown): void => {
    subscriptions.push(vscode.commands.registerCommand(id, f));
  };
  register("wasmscope.run", (uri, name) => runCommand({ binary }, uri, name));
  register("wasmscope.debug", (uri, name) => debugCommand(uri, name));
  register("wasmscope.showDisassembly", async (arg) => {
    const uri = uriArgument(arg) ?? activeResource();
    if (!uri || uri.scheme !== "file" || !uri.fsPath.toLowerCase().endsWith(".wasm")) {
      void vscode.window.showErrorMessage("wasmscope: select a .wasm file to show as text.");
      return;
    }
    await vscode.window.showTextDocument(textUriOf(uri));
  });
  register("wasmscope.restartServer", () => restart());
  register("wasmscope.references.refresh", () => {
    const item = vscode.debug.activeStackItem;
    if (item instanceof vscode.DebugStackFrame && item.session.type === DEBUG_TYPE) {
      return view.refresh(item.session, { frameId: item.frameId });
    }
    const session = vscode.debug.activeDebugSession;
    return session ? view.refresh(session, { threadId: 1 }) : undefined;
  });
  register("wasmscope.openMemory", (node) => openMemory(node as Node | undefined));
  register("wasmscope.copyValue", (node) => {
    const n = node as Node | undefined;
    if (n?.kind === "ref") {
      return vscode.env.clipboard.writeText(n.entry.value);
    }
    return undefined;
  });

  subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(SETTING)) {
        restart();
      }
    }),
  );
  return { text, view, locate };
}

export async function deactivate(): Promise<void> {
  const s = server;
  server = undefined;
  await s?.stop();
}
