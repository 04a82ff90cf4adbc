// What the Variables pane shows poorly: the externref values of the paused
// frame (wasm locals, wasm globals, table entries) with their address,
// reference count, host type and rendering, and linear memory, opened in
// VS Code's memory inspector through its `memoryReference`.
//
// Everything comes from standard DAP requests (stackTrace, scopes,
// variables) sent through the session, exactly as `wasmscope dap` answers
// them: an externref's value is rendered as
//   externref 0x7f0a30008108 (count 4, wasmscope_engine::host::StubHandle) host.make#1
// (address, count, Rust type, then the host value's Debug rendering, if
// any) and a null one as `null`; a table is a variable of type
// `table of externref` whose children are its slots; a memory is a variable
// of type `memory` with a `memoryReference`.

/** One externref, as the adapter describes it. */
export interface Externref {
  address: string;
  count: number;
  typeName: string;
  /** The host value's Debug rendering, when its type has one. */
  rendering?: string;
}

/**
 * Reads the adapter's text for an externref: the reference, `null` for a
 * null one, undefined for any other text.
 */
export function parseExternref(text: string): Externref | null | undefined {
  const value = text.trim();
  if (value === "null") {
    return null;
  }
  const head = /^externref (0x[0-9a-fA-F]+) \(count (\d+), /.exec(value);
  if (!head) {
    return undefined;
  }
  // The type name runs to the `)` that closes `(count`: Rust type names
  // have balanced brackets (`Vec<(u8, u8)>`, `[u8; 4]`).
  let depth = 0;
  let i = head[0].length;
  for (; i < value.length; i++) {
    const c = value[i];
    if (c === "(" || c === "[" || c === "<") {
      depth++;
    } else if (c === ">" && value[i - 1] === "-") {
      // `->` in a function type is no bracket.
    } else if (c === ")" || c === "]" || c === ">") {
      if (depth === 0) {
        break;
      }
      depth--;
    }
  }
  if (i >= value.length || value[i] !== ")") {
    return undefined;
  }
  const typeName = value.slice(head[0].length, i);
  const rest = value.slice(i + 1);
  const ref: Externref = { address: head[1], count: Number(head[2]), typeName };
  if (rest.startsWith(" ") && rest.trim() !== "") {
    ref.rendering = rest.slice(1);
  }
  return ref;
}

/** The parts of DAP objects read here (the adapter sends nulls for absent fields). */
export interface DapVariable {
  name: string;
  value: string;
  type?: string | null;
  variablesReference: number;
  indexedVariables?: number | null;
  memoryReference?: string | null;
}

export interface DapScope {
  name: string;
  variablesReference: number;
  expensive?: boolean;
}

export interface DapStackFrame {
  id: number;
  name: string;
}

/** Sends a DAP request, resolves to its response body. */
export type Request = (command: string, args: Record<string, unknown>) => Promise<unknown>;

export interface RefEntry {
  name: string;
  /** The adapter's text, as the Variables pane shows it. */
  value: string;
  /** Null for a null reference. */
  ref: Externref | null;
}

export interface RefGroup {
  /** "Wasm locals", "Wasm globals", or a table's name. */
  label: string;
  /** The scope it is in. */
  scope: string;
  entries: RefEntry[];
  /** For tables: slots and how many hold a reference. */
  description?: string;
}

export interface MemoryEntry {
  name: string;
  value: string;
  memoryReference: string;
}

export interface Snapshot {
  frame: DapStackFrame;
  groups: RefGroup[];
  memories: MemoryEntry[];
}

export const TABLE_LIMIT = 1000;

function isExternrefVariable(v: DapVariable): boolean {
  if (v.type === "externref") {
    return true;
  }
  return (v.type === undefined || v.type === null) && parseExternref(v.value) !== undefined;
}

async function variables(request: Request, reference: number, start?: number, count?: number): Promise<DapVariable[]> {
  const args: Record<string, unknown> = { variablesReference: reference };
  if (start !== undefined) {
    args.start = start;
    args.count = count;
  }
  const body = (await request("variables", args)) as { variables?: DapVariable[] } | undefined;
  return body?.variables ?? [];
}

/** The top frame of a stopped thread. */
export async function topFrame(request: Request, threadId: number): Promise<DapStackFrame | undefined> {
  const body = (await request("stackTrace", { threadId, startFrame: 0, levels: 1 })) as
    | { stackFrames?: DapStackFrame[] }
    | undefined;
  return body?.stackFrames?.[0];
}

/** Reads the externrefs and memories visible from one frame. */
export async function collect(request: Request, frame: DapStackFrame, tableLimit = TABLE_LIMIT): Promise<Snapshot> {
  const body = (await request("scopes", { frameId: frame.id })) as { scopes?: DapScope[] } | undefined;
  const groups: RefGroup[] = [];
  const memories: MemoryEntry[] = [];
  for (const scope of body?.scopes ?? []) {
    // Expensive scopes (the operand stack's types) hold no values.
    if (scope.expensive || scope.variablesReference <= 0) {
      continue;
    }
    const vars = await variables(request, scope.variablesReference);
    const refs = vars.filter(isExternrefVariable);
    if (refs.length > 0) {
      groups.push({
        label: scope.name,
        scope: scope.name,
        entries: refs.map((v) => ({ name: v.name, value: v.value, ref: parseExternref(v.value) ?? null })),
      });
    }
    for (const table of vars) {
      if (table.type !== "table of externref" || table.variablesReference <= 0) {
        continue;
      }
      const size = table.indexedVariables ?? tableLimit;
      const slots = await variables(request, table.variablesReference, 0, Math.min(size, tableLimit));
      const entries = slots
        .map((v) => ({ name: v.name, value: v.value, ref: parseExternref(v.value) }))
        .filter((e): e is RefEntry => e.ref !== undefined && e.ref !== null);
      const shown = size > tableLimit ? ` (first ${tableLimit} read)` : "";
      groups.push({
        label: table.name,
        scope: scope.name,
        entries,
        description: `${size} slots, ${entries.length} non-null${shown}`,
      });
    }
    for (const v of vars) {
      if (v.type === "memory" && typeof v.memoryReference === "string" && v.memoryReference !== "") {
        memories.push({ name: v.name, value: v.value, memoryReference: v.memoryReference });
      }
    }
  }
  return { frame, groups, memories };
}

/** The last segment of a Rust path, generics kept: `a::b::Handle<x::Y>` → `Handle<x::Y>`. */
export function shortType(typeName: string): string {
  const generic = typeName.indexOf("<");
  const head = generic < 0 ? typeName : typeName.slice(0, generic);
  const cut = head.lastIndexOf("::");
  return cut < 0 ? typeName : typeName.slice(cut + 2);
}
