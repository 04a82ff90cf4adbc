// The "WebAssembly References & Memory" view in the Run and Debug side bar.
import * as vscode from "vscode";
import { DEBUG_TYPE } from "./config";
import {
  collect,
  shortType,
  topFrame,
  type MemoryEntry,
  type RefEntry,
  type RefGroup,
  type Request,
  type Snapshot,
} from "./references";

export const VIEW_ID = "wasmscope.references";
export const HEX_EDITOR = "ms-vscode.hexeditor";
export const HEX_EDITOR_VIEW = "hexEditor.hexedit";

export type Node =
  | { kind: "group"; group: RefGroup }
  | { kind: "ref"; entry: RefEntry }
  | { kind: "field"; label: string; value: string }
  | { kind: "memories"; memories: MemoryEntry[] }
  | { kind: "memory"; memory: MemoryEntry; session: vscode.DebugSession }
  | { kind: "message"; text: string };

function sessionRequest(session: vscode.DebugSession): Request {
  return (command, args) => Promise.resolve(session.customRequest(command, args) as Promise<unknown>);
}

export class ReferencesView implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private snapshot: Snapshot | undefined;
  private session: vscode.DebugSession | undefined;
  private error: string | undefined;
  /** Bumped by each refresh and clear: late answers of older ones are dropped. */
  private generation = 0;

  /** Reads the paused frame (`frameId`, else the top frame of `threadId`) of a session. */
  async refresh(session: vscode.DebugSession, where: { frameId?: number; threadId?: number } = {}): Promise<void> {
    if (session.type !== DEBUG_TYPE) {
      return;
    }
    const generation = ++this.generation;
    const request = sessionRequest(session);
    try {
      const frame =
        where.frameId !== undefined
          ? { id: where.frameId, name: "" }
          : await topFrame(request, where.threadId ?? 1);
      if (!frame) {
        throw new Error("the thread has no frames");
      }
      const snapshot = await collect(request, frame);
      if (generation !== this.generation) {
        return;
      }
      this.snapshot = snapshot;
      this.session = session;
      this.error = undefined;
    } catch (e) {
      if (generation !== this.generation) {
        return;
      }
      this.snapshot = undefined;
      this.session = session;
      this.error = e instanceof Error ? e.message : String(e);
    }
    this.changed.fire(undefined);
  }

  /** The program runs again or ended: nothing to show. */
  clear(session?: vscode.DebugSession): void {
    if (session && this.session && session.id !== this.session.id) {
      return;
    }
    this.generation++;
    this.snapshot = undefined;
    this.session = undefined;
    this.error = undefined;
    this.changed.fire(undefined);
  }

  get current(): Snapshot | undefined {
    return this.snapshot;
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      if (this.error !== undefined) {
        return [{ kind: "message", text: `Could not read the paused frame: ${this.error}` }];
      }
      const s = this.snapshot;
      const session = this.session;
      if (!s || !session) {
        return [];
      }
      const nodes: Node[] = s.groups.map((group) => ({ kind: "group", group }));
      if (s.groups.length === 0) {
        nodes.push({ kind: "message", text: "No externref values in this frame." });
      }
      if (s.memories.length > 0) {
        nodes.push({ kind: "memories", memories: s.memories });
      }
      return nodes;
    }
    switch (node.kind) {
      case "group":
        return node.group.entries.map((entry) => ({ kind: "ref", entry }));
      case "ref": {
        const r = node.entry.ref;
        if (!r) {
          return [];
        }
        const fields: Node[] = [
          { kind: "field", label: "address", value: r.address },
          { kind: "field", label: "count", value: String(r.count) },
          { kind: "field", label: "type", value: r.typeName },
        ];
        if (r.rendering !== undefined) {
          fields.push({ kind: "field", label: "rendering", value: r.rendering });
        }
        return fields;
      }
      case "memories": {
        const session = this.session;
        return session ? node.memories.map((memory) => ({ kind: "memory", memory, session })) : [];
      }
      default:
        return [];
    }
  }

  getTreeItem(node: Node): vscode.TreeItem {
    const { Collapsed, Expanded, None } = vscode.TreeItemCollapsibleState;
    switch (node.kind) {
      case "group": {
        const item = new vscode.TreeItem(node.group.label, node.group.entries.length > 0 ? Expanded : None);
        item.description = node.group.description ?? `${node.group.entries.length}`;
        item.tooltip = `${node.group.scope}: ${item.description}`;
        item.contextValue = "group";
        return item;
      }
      case "ref": {
        const r = node.entry.ref;
        const item = new vscode.TreeItem(node.entry.name, r ? Collapsed : None);
        item.contextValue = "externref";
        if (!r) {
          item.description = "null";
          item.tooltip = `${node.entry.name}: null externref`;
          return item;
        }
        item.description = `${shortType(r.typeName)} · count ${r.count}${r.rendering !== undefined ? ` · ${r.rendering}` : ""}`;
        const md = new vscode.MarkdownString();
        md.appendMarkdown(`**${node.entry.name}**: externref\n\n`);
        md.appendMarkdown(`- address: \`${r.address}\`\n- count: ${r.count}\n`);
        md.appendMarkdown(`- type: \`${r.typeName}\`\n`);
        if (r.rendering !== undefined) {
          md.appendMarkdown("- rendering:\n\n");
          md.appendCodeblock(r.rendering, "text");
        }
        item.tooltip = md;
        return item;
      }
      case "field": {
        const item = new vscode.TreeItem(node.label, None);
        item.description = node.value;
        item.tooltip = `${node.label}: ${node.value}`;
        return item;
      }
      case "memories": {
        const item = new vscode.TreeItem("Linear memory", Expanded);
        item.description = `${node.memories.length}`;
        return item;
      }
      case "memory": {
        const item = new vscode.TreeItem(node.memory.name, None);
        item.description = node.memory.value;
        item.tooltip = `Open ${node.memory.name} (memoryReference ${node.memory.memoryReference}) in the memory inspector`;
        item.contextValue = "memory";
        item.iconPath = new vscode.ThemeIcon("file-binary");
        item.command = { command: "wasmscope.openMemory", title: "Open in Memory Inspector", arguments: [node] };
        return item;
      }
      case "message":
        return new vscode.TreeItem(node.text, None);
    }
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** The URI VS Code's debug memory file system serves a memory reference under. */
export function memoryUri(session: vscode.DebugSession, memoryReference: string, name: string): vscode.Uri {
  return vscode.Uri.from({
    scheme: "vscode-debug-memory",
    authority: session.id,
    path: `/${encodeURIComponent(memoryReference)}/${encodeURIComponent(name)}.bin`,
  });
}

/** Opens memory in the hex editor, as the Variables pane's "View Binary Data" does. */
export async function openMemory(node: Node | undefined): Promise<void> {
  if (!node || node.kind !== "memory") {
    return;
  }
  if (!vscode.extensions.getExtension(HEX_EDITOR)) {
    const install = "Install Hex Editor";
    const choice = await vscode.window.showInformationMessage(
      `Viewing ${node.memory.name} needs the Hex Editor extension (${HEX_EDITOR}), which VS Code uses as its memory inspector.`,
      install,
    );
    if (choice !== install) {
      return;
    }
    await vscode.commands.executeCommand("workbench.extensions.installExtension", HEX_EDITOR);
  }
  await vscode.commands.executeCommand(
    "vscode.openWith",
    memoryUri(node.session, node.memory.memoryReference, node.memory.name),
    HEX_EDITOR_VIEW,
  );
}

/** Keeps the view in step with the session: stops fill it, resumes clear it. */
export function trackerFactory(view: ReferencesView): vscode.DebugAdapterTrackerFactory {
  return {
    createDebugAdapterTracker(session: vscode.DebugSession): vscode.DebugAdapterTracker {
      return {
        onDidSendMessage(message: unknown): void {
          const m = message as { type?: string; event?: string; body?: { threadId?: number } };
          if (m.type !== "event") {
            return;
          }
          if (m.event === "stopped") {
            void view.refresh(session, { threadId: m.body?.threadId ?? 1 });
          } else if (m.event === "continued" || m.event === "exited" || m.event === "terminated") {
            view.clear(session);
          }
        },
        onExit(): void {
          view.clear(session);
        },
      };
    },
  };
}
