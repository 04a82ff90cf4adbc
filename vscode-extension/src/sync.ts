// Which document notifications reach the language server (apart from the
// client, which imports the real `vscode` module, so this is testable).
import type * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient";

/** Keeps `didOpen`/`didChange` of the documents the server holds itself from reaching it. */
export function syncMiddleware(serverKeeps: (uri: vscode.Uri) => boolean): Middleware {
  return {
    didOpen: (document, next) => (serverKeeps(document.uri) ? Promise.resolve() : next(document)),
    // A re-read disassembly is already the server's new text: edits
    // computed against the old one must not be applied to it again.
    didChange: (event, next) => (serverKeeps(event.document.uri) ? Promise.resolve() : next(event)),
  };
}
