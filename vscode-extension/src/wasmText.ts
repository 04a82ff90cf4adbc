// Binary modules as text. A `.wasm` opened in VS Code goes to a read-only
// custom editor that at once opens the module's `.wat` text instead: a
// virtual document (scheme `wasmscope-wasm`) whose content is the language
// server's `wasmscope/disassemble` answer, and whose diagnostics the server
// publishes under the same URI. A real text editor, so hover, symbols,
// references and code lenses work in it as in any `.wat`.
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";

export const SCHEME = "wasmscope-wasm";
export const VIEW_TYPE = "wasmscope.wasmText";
export const DISASSEMBLE = "wasmscope/disassemble";

/** A function of a module with DWARF: where its code is printed and its source. */
export interface FunctionSource {
  /** 0-based line of the disassembly. */
  line: number;
  name?: string | null;
  file: string;
  /** 1-based line of `file`. */
  sourceLine: number;
}

export interface DisassembleResult {
  uri: string;
  text: string;
  functions: FunctionSource[];
}

/** Sends a request to the language server. */
export type Requester = (method: string, params: unknown) => Promise<unknown>;

/** The virtual document of a `.wasm` file: `file:///p/app.wasm` → `wasmscope-wasm:/p/app.wasm.wat`. */
export function textUriOf(wasm: vscode.Uri): vscode.Uri {
  return wasm.with({ scheme: SCHEME, path: `${wasm.path}.wat` });
}

/** The `.wasm` file of a virtual document. */
export function wasmUriOf(text: vscode.Uri): vscode.Uri {
  return text.with({ scheme: "file", path: text.path.replace(/\.wat$/, "") });
}

function isResult(v: unknown): v is DisassembleResult {
  const r = v as Partial<DisassembleResult> | null;
  return typeof r === "object" && r !== null && typeof r.uri === "string" && typeof r.text === "string";
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class WasmTextProvider implements vscode.TextDocumentContentProvider, vscode.CodeLensProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  /** By virtual URI (as VS Code prints it). */
  private readonly results = new Map<string, DisassembleResult>();

  /**
   * @param requester the running language client's request function, or
   *   why there is no server.
   */
  constructor(private readonly requester: () => Promise<Requester | string>) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const wasm = wasmUriOf(uri);
    const request = await this.requester();
    if (typeof request === "string") {
      return `;; ${wasm.fsPath} cannot be shown as text.\n;; ${request.replace(/\n/g, "\n;; ")}\n`;
    }
    try {
      const result = await request(DISASSEMBLE, { uri: wasm.toString() });
      if (!isResult(result)) {
        throw new Error(`unexpected answer to ${DISASSEMBLE}: ${JSON.stringify(result)}`);
      }
      this.results.set(uri.toString(), { ...result, functions: result.functions ?? [] });
      return result.text;
    } catch (e) {
      this.results.delete(uri.toString());
      return `;; wasmscope could not disassemble ${wasm.fsPath}:\n;; ${errorText(e).replace(/\n/g, "\n;; ")}\n`;
    }
  }

  /**
   * Whether the server keeps this document itself, under the very URI
   * VS Code uses for it: then the editor must not send `didOpen` (which
   * would replace the server's byte-accurate diagnostics with those of the
   * text). Not so for paths that URIs escape (spaces...), where the
   * server's key differs: there `didOpen` is what makes features work.
   */
  servedByServer(uri: vscode.Uri): boolean {
    return this.results.get(uri.toString())?.uri === uri.toString();
  }

  functions(uri: vscode.Uri): FunctionSource[] {
    return this.results.get(uri.toString())?.functions ?? [];
  }

  /** Re-reads the module (after it changed on disk or the server restarted). */
  refresh(wasm: vscode.Uri): void {
    this.changed.fire(textUriOf(wasm));
  }

  /** Open disassemblies, as `.wasm` URIs. */
  openModules(): vscode.Uri[] {
    return [...this.results.keys()].map((k) => wasmUriOf(vscode.Uri.parse(k)));
  }

  forget(uri: vscode.Uri): void {
    this.results.delete(uri.toString());
  }

  /**
   * For modules with DWARF: a lens over each function opening its source
   * line. A source missing at its DWARF path (built elsewhere) is looked
   * for beside the module, as the debugger does.
   */
  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const moduleDir = path.dirname(wasmUriOf(document.uri).fsPath);
    return this.functions(document.uri).map((f) => {
      const range = new vscode.Range(f.line, 0, f.line, 0);
      const where = `${path.basename(f.file)}:${f.sourceLine}`;
      const beside = path.join(moduleDir, path.basename(f.file));
      const file = fs.existsSync(f.file) ? f.file : fs.existsSync(beside) ? beside : undefined;
      if (file === undefined) {
        return new vscode.CodeLens(range, { title: `${where} (source not found)`, command: "" });
      }
      const line = Math.max(0, f.sourceLine - 1);
      return new vscode.CodeLens(range, {
        title: `Source: ${where}`,
        command: "vscode.open",
        arguments: [vscode.Uri.file(file), { selection: new vscode.Range(line, 0, line, 0) }],
      });
    });
  }

  dispose(): void {
    this.changed.dispose();
  }
}

function page(title: string, body: string): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"><title>${esc(title)}</title></head><body style="font-family: var(--vscode-font-family); padding: 1em"><p>${esc(body).replace(/\n/g, "<br>")}</p></body></html>`;
}

/**
 * The editor VS Code gives `*.wasm` files: it opens the `.wat` text in a
 * real text editor in its place and closes itself. If that fails, it stays
 * and says why.
 */
export class WasmEditorProvider implements vscode.CustomReadonlyEditorProvider {
  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    const name = path.basename(document.uri.fsPath);
    panel.webview.options = { enableScripts: false };
    panel.webview.html = page(name, `Opening ${name} as WebAssembly text…`);
    try {
      await vscode.window.showTextDocument(textUriOf(document.uri), { viewColumn: panel.viewColumn });
    } catch (e) {
      panel.webview.html = page(
        name,
        `${name} could not be opened as WebAssembly text: ${errorText(e)}\n` +
          `To see its bytes, use "Reopen Editor With..." and pick another editor.`,
      );
      return;
    }
    closeTabsOf(document.uri, panel);
  }
}

/** Closes this editor's tab (the text now stands in its place). */
function closeTabsOf(uri: vscode.Uri, panel: vscode.WebviewPanel): void {
  const tabs = vscode.window.tabGroups.all
    .flatMap((g) => g.tabs)
    .filter(
      (t) =>
        t.input instanceof vscode.TabInputCustom &&
        t.input.viewType === VIEW_TYPE &&
        t.input.uri.toString() === uri.toString(),
    );
  if (tabs.length > 0) {
    void vscode.window.tabGroups.close(tabs);
    return;
  }
  try {
    panel.dispose();
  } catch {
    // Already closed (a preview tab the text replaced).
  }
}
