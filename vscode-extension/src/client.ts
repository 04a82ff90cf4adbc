// The language client: `wasmscope lsp` over stdio for .wat, .wast and the
// disassemblies of .wasm files.
import type * as vscode from "vscode";
import { LanguageClient, type LanguageClientOptions, type ServerOptions } from "vscode-languageclient/node";
import { syncMiddleware } from "./sync";
import { SCHEME } from "./wasmText";

export const DOCUMENT_SELECTOR = [
  { scheme: "file", language: "wat" },
  { scheme: "untitled", language: "wat" },
  { scheme: "file", language: "wast" },
  { scheme: "untitled", language: "wast" },
  { scheme: SCHEME },
];

export interface Server {
  request(method: string, params: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * Starts the server. `serverKeeps(uri)` tells which disassemblies the
 * server already holds, from its own `wasmscope/disassemble` answer: those
 * get no `didOpen` (it would replace the server's diagnostics at byte
 * offsets with those of the printed text) nor `didChange`; `didClose` goes
 * through, so the server forgets them.
 */
export async function startServer(
  binary: string,
  output: vscode.OutputChannel,
  serverKeeps: (uri: vscode.Uri) => boolean,
): Promise<Server> {
  const executable = { command: binary, args: ["lsp"] };
  const serverOptions: ServerOptions = { run: executable, debug: executable };
  const clientOptions: LanguageClientOptions = {
    documentSelector: DOCUMENT_SELECTOR,
    outputChannel: output,
    middleware: syncMiddleware(serverKeeps),
  };
  const client = new LanguageClient("wasmscope", "wasmscope language server", serverOptions, clientOptions);
  await client.start();
  return {
    request: (method, params) => client.sendRequest(method, params),
    stop: () => client.stop(),
  };
}
