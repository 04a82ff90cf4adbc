// The configuration provider: initial configurations for a new launch.json,
// F5 with no launch.json (an empty configuration) on each kind of editor,
// and the checks and rewrites of explicit configurations.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { ConfigurationProvider, activeResource, type LaunchConfiguration } from "../src/config";
import { programCandidates, siblingModules } from "../src/modules";
import { VIEW_TYPE, textUriOf } from "../src/wasmText";
import { folder, openEditor, setTabGroup, settings } from "./helpers";

let dir: string;
const provider = new ConfigurationProvider();
const empty = {} as vscode.DebugConfiguration;

function touch(...names: string[]): void {
  for (const n of names) {
    fs.mkdirSync(path.dirname(path.join(dir, n)), { recursive: true });
    fs.writeFileSync(path.join(dir, n), "");
  }
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "wasmscope-config-"));
  settings({});
});

afterEach(() => {
  openEditor(undefined);
  setTabGroup({ tabs: [] });
  fs.rmSync(dir, { recursive: true, force: true });
  vi.clearAllMocks();
});

describe("initial configurations", () => {
  test("one per module found in the folder, relative to ${workspaceFolder}", async () => {
    touch("b.wasm", "sub/a.wat");
    vi.mocked(vscode.workspace.findFiles).mockResolvedValue([vscode.Uri.file(path.join(dir, "b.wasm")), vscode.Uri.file(path.join(dir, "sub", "a.wat"))]);
    const configs = await provider.provideDebugConfigurations(folder(dir));
    expect(configs).toEqual([
      { type: "wasmscope", request: "launch", name: "Debug b.wasm", program: "${workspaceFolder}/b.wasm", args: [], cwd: "${workspaceFolder}", stopOnEntry: false },
      { type: "wasmscope", request: "launch", name: "Debug sub/a.wat", program: "${workspaceFolder}/sub/a.wat", args: [], cwd: "${workspaceFolder}", stopOnEntry: false },
    ]);
    const [pattern, exclude, max] = vi.mocked(vscode.workspace.findFiles).mock.calls[0];
    expect((pattern as vscode.RelativePattern).pattern).toBe("**/*.{wasm,wat}");
    expect([exclude, max]).toEqual(["**/{node_modules,.git}/**", 20]);
  });

  test("a template when there is no module (or no folder)", async () => {
    vi.mocked(vscode.workspace.findFiles).mockResolvedValue([]);
    const [c] = await provider.provideDebugConfigurations(folder(dir));
    expect(c).toMatchObject({ type: "wasmscope", request: "launch", program: "${workspaceFolder}/app.wasm" });
    expect(await provider.provideDebugConfigurations(undefined)).toEqual([c]);
  });
});

describe("F5 with no launch.json", () => {
  test("an open .wasm or .wat is the program", async () => {
    touch("app.wasm", "m.wat");
    for (const name of ["app.wasm", "m.wat"]) {
      openEditor(vscode.Uri.file(path.join(dir, name)));
      expect(await provider.resolveDebugConfiguration(folder(dir), empty)).toEqual({
        type: "wasmscope",
        request: "launch",
        name: `Debug ${name}`,
        program: path.join(dir, name),
        cwd: dir,
      });
    }
  });

  test("stubImports follows the wasmscope.stubImports setting", async () => {
    settings({ stubImports: true });
    openEditor(vscode.Uri.file(path.join(dir, "app.wasm")));
    expect(await provider.resolveDebugConfiguration(folder(dir), empty)).toMatchObject({ stubImports: true });
  });

  test("the disassembly of a .wasm debugs the .wasm", async () => {
    openEditor(textUriOf(vscode.Uri.file(path.join(dir, "app.wasm"))));
    expect(await provider.resolveDebugConfiguration(undefined, empty)).toMatchObject({ program: path.join(dir, "app.wasm") });
  });

  test("a .wasm in the custom editor (no text editor)", async () => {
    const uri = vscode.Uri.file(path.join(dir, "app.wasm"));
    setTabGroup({ tabs: [], activeTab: { input: new vscode.TabInputCustom(uri, VIEW_TYPE) } });
    expect(activeResource()?.toString()).toBe(uri.toString());
    expect(await provider.resolveDebugConfiguration(undefined, empty)).toMatchObject({ program: uri.fsPath });
  });

  test("a C file with its .wasm beside it", async () => {
    touch("app.c", "app.wasm", "other.wasm");
    openEditor(vscode.Uri.file(path.join(dir, "app.c")));
    expect(await provider.resolveDebugConfiguration(folder(dir), empty)).toMatchObject({ program: path.join(dir, "app.wasm") });
    expect(vscode.window.showQuickPick).not.toHaveBeenCalled();
  });

  test("a Rust file with several builds beside it: the user picks one", async () => {
    touch("main.rs", "main-O0.wasm", "main.release.wasm", "mainly.wasm");
    openEditor(vscode.Uri.file(path.join(dir, "main.rs")));
    vi.mocked(vscode.window.showQuickPick).mockImplementation((items) => Promise.resolve((items as { label: string }[])[1]));
    expect(await provider.resolveDebugConfiguration(folder(dir), empty)).toMatchObject({ program: path.join(dir, "main.release.wasm") });
    const offered = (vi.mocked(vscode.window.showQuickPick).mock.calls[0][0] as { label: string }[]).map((i) => i.label);
    expect(offered).toEqual(["main-O0.wasm", "main.release.wasm"]);
  });

  test("nothing to debug: a message, and no session", async () => {
    touch("lonely.cpp", "notes.txt");
    openEditor(vscode.Uri.file(path.join(dir, "lonely.cpp")));
    expect(await provider.resolveDebugConfiguration(folder(dir), empty)).toBeUndefined();
    expect(vi.mocked(vscode.window.showErrorMessage).mock.calls[0][0]).toMatch(/no lonely\.wasm .*beside lonely\.cpp/);

    openEditor(vscode.Uri.file(path.join(dir, "notes.txt")));
    expect(await provider.resolveDebugConfiguration(folder(dir), empty)).toBeUndefined();
    openEditor(undefined);
    expect(await provider.resolveDebugConfiguration(folder(dir), empty)).toBeUndefined();
    expect(vscode.window.showErrorMessage).toHaveBeenCalledTimes(3);
  });
});

describe("explicit configurations", () => {
  test("cwd defaults to the folder; type/request/name filled", async () => {
    const c = await provider.resolveDebugConfiguration(folder(dir), { type: "wasmscope", request: "launch", name: "x", program: "a.wasm" });
    expect(c).toEqual({ type: "wasmscope", request: "launch", name: "x", program: "a.wasm", cwd: dir });
    const kept = await provider.resolveDebugConfiguration(folder(dir), { type: "wasmscope", request: "launch", name: "x", program: "a.wasm", cwd: "/elsewhere" });
    expect(kept?.cwd).toBe("/elsewhere");
  });

  test("no program, or attach: refused with a message", async () => {
    expect(await provider.resolveDebugConfiguration(folder(dir), { type: "wasmscope", request: "launch", name: "x" })).toBeUndefined();
    expect(vi.mocked(vscode.window.showErrorMessage).mock.calls[0][0]).toContain('has no "program"');
    expect(await provider.resolveDebugConfiguration(folder(dir), { type: "wasmscope", request: "attach", name: "x", program: "a.wasm" })).toBeUndefined();
  });

  test("after substitution, ${file} on a source or a disassembly becomes the module", async () => {
    touch("app.c", "app.wasm", "lib.wasm");
    const c = (program: string, cwd?: string): vscode.DebugConfiguration => ({ type: "wasmscope", request: "launch", name: "x", program, ...(cwd ? { cwd } : {}) });
    const resolve = (config: vscode.DebugConfiguration) => provider.resolveDebugConfigurationWithSubstitutedVariables(undefined, config);
    expect(await resolve(c(path.join(dir, "app.c")))).toMatchObject({ program: path.join(dir, "app.wasm") });
    expect(await resolve(c("app.c", dir))).toMatchObject({ program: path.join(dir, "app.wasm") });
    expect(await resolve(c(path.join(dir, "lib.wasm.wat")))).toMatchObject({ program: path.join(dir, "lib.wasm") });
    expect(await resolve(c("lib.wasm", dir))).toMatchObject({ program: "lib.wasm" });
    const unchanged: LaunchConfiguration | undefined = await resolve(c(path.join(dir, "x.wasm")));
    expect(unchanged?.program).toBe(path.join(dir, "x.wasm"));
  });

  test("a .wasm's listing is its text view, where breakpoints set from the explorer live; a .wat has none", async () => {
    touch("app.wasm", "m.wat");
    const resolve = (config: vscode.DebugConfiguration) => provider.resolveDebugConfigurationWithSubstitutedVariables(undefined, config);
    const wasm = await resolve({ type: "wasmscope", request: "launch", name: "x", program: "app.wasm", cwd: dir });
    expect(wasm?.listingPath).toBe(textUriOf(vscode.Uri.file(path.join(dir, "app.wasm"))).toString());
    expect(wasm?.listingPath).toMatch(/^wasmscope-wasm:.*\/app\.wasm\.wat$/);
    const wat = await resolve({ type: "wasmscope", request: "launch", name: "x", program: path.join(dir, "m.wat") });
    expect(wat?.listingPath).toBeUndefined();
    const chosen = await resolve({ type: "wasmscope", request: "launch", name: "x", program: path.join(dir, "app.wasm"), listingPath: "" });
    expect(chosen?.listingPath).toBe("");
  });
});

describe("modules", () => {
  test("siblingModules: exact name first, else stem-prefixed builds, sorted", () => {
    const list = (names: string[]) => () => names;
    expect(siblingModules("/d/app.c", list(["app.wasm", "app-O0.wasm"]))).toEqual(["/d/app.wasm"]);
    expect(siblingModules("/d/app.c", list(["app-O2.wasm", "app-O0.wasm", "apple.wasm", "app.c", "app_dbg.wasm"]))).toEqual(["/d/app-O0.wasm", "/d/app-O2.wasm", "/d/app_dbg.wasm"]);
    expect(siblingModules("/missing/app.c")).toEqual([]);
  });
  test("programCandidates", () => {
    expect(programCandidates("/d/x.wasm.wat", () => false)).toEqual(["/d/x.wasm"]);
    expect(programCandidates("/d/x.wasm.wat", () => true)).toEqual(["/d/x.wasm.wat"]);
    expect(programCandidates("/d/m.wat", () => true)).toEqual(["/d/m.wat"]);
  });
});
