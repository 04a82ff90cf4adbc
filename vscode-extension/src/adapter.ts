// The debug adapter: `wasmscope dap` over stdio, spawned by VS Code.
import * as vscode from "vscode";
import type { Resolution } from "./binary";

export class AdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  /**
   * @param locate finds the binary (at each session: a changed setting applies at once)
   * @param missing tells the user when it is not there
   */
  constructor(
    private readonly locate: () => Resolution,
    private readonly missing: (message: string) => void,
  ) {}

  createDebugAdapterDescriptor(): vscode.DebugAdapterDescriptor {
    const binary = this.locate();
    if (!binary.found) {
      this.missing(binary.message);
      // VS Code shows this too, where the session failed to start.
      throw new Error(binary.message);
    }
    return new vscode.DebugAdapterExecutable(binary.path, ["dap"]);
  }
}
