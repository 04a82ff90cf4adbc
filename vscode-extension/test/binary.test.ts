// Where the binary comes from, and the message when it is nowhere.
import * as os from "node:os";
import { describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { AdapterFactory } from "../src/adapter";
import { missingMessage, resolveBinary } from "../src/binary";

const ext = "/ext";
const env = { PATH: "/usr/local/bin:/opt/wasmscope/bin" };

function only(...files: string[]) {
  return (f: string) => files.includes(f);
}

describe("resolveBinary", () => {
  test("default: the bundled binary first, then PATH", () => {
    expect(resolveBinary({ setting: "", extensionPath: ext, env, platform: "linux", isExecutable: only("/ext/bin/wasmscope", "/usr/local/bin/wasmscope") })).toEqual({
      found: true,
      path: "/ext/bin/wasmscope",
      origin: "bundled",
    });
    expect(resolveBinary({ setting: "", extensionPath: ext, env, platform: "linux", isExecutable: only("/opt/wasmscope/bin/wasmscope") })).toEqual({
      found: true,
      path: "/opt/wasmscope/bin/wasmscope",
      origin: "path",
    });
  });

  test("the setting wins: absolute, relative to the workspace, ~, or a name on PATH", () => {
    const all = () => true;
    expect(resolveBinary({ setting: "/x/wasmscope", extensionPath: ext, env, platform: "linux", isExecutable: all })).toMatchObject({ path: "/x/wasmscope", origin: "setting" });
    expect(resolveBinary({ setting: "target/release/wasmscope", extensionPath: ext, workspaceFolder: "/w", env, platform: "linux", isExecutable: all })).toMatchObject({ path: "/w/target/release/wasmscope" });
    expect(resolveBinary({ setting: "~/bin/wasmscope", extensionPath: ext, env, platform: "linux", isExecutable: all })).toMatchObject({ path: `${os.homedir()}/bin/wasmscope` });
    expect(resolveBinary({ setting: "wasmscope-dev", extensionPath: ext, env, platform: "linux", isExecutable: only("/opt/wasmscope/bin/wasmscope-dev") })).toMatchObject({ path: "/opt/wasmscope/bin/wasmscope-dev" });
  });

  test("Windows: wasmscope.exe, PATHEXT", () => {
    const winEnv = { Path: "C:\\tools;C:\\cargo\\bin", PATHEXT: ".COM;.EXE" };
    expect(resolveBinary({ setting: "", extensionPath: "C:\\ext", env: winEnv, platform: "win32", isExecutable: only("C:\\cargo\\bin\\wasmscope.exe") })).toMatchObject({ path: "C:\\cargo\\bin\\wasmscope.exe", origin: "path" });
    expect(resolveBinary({ setting: "", extensionPath: "C:\\ext", env: winEnv, platform: "win32", isExecutable: only("C:\\ext\\bin\\wasmscope.exe") })).toMatchObject({ origin: "bundled" });
  });

  test("missing: the message names the setting and the fix", () => {
    const none = () => false;
    const r = resolveBinary({ setting: "", extensionPath: ext, env, platform: "linux", isExecutable: none });
    expect(r.found).toBe(false);
    if (!r.found) {
      expect(r.tried).toEqual(["/ext/bin/wasmscope", "/usr/local/bin/wasmscope", "/opt/wasmscope/bin/wasmscope"]);
      expect(r.message).toContain("wasmscope.path");
      expect(r.message).toContain("cargo install --path .");
      expect(r.message).toContain("PATH");
    }
    const s = resolveBinary({ setting: "/nope/wasmscope", extensionPath: ext, env, platform: "linux", isExecutable: none });
    expect(s.found ? "" : s.message).toBe(missingMessage("/nope/wasmscope", ["/nope/wasmscope"]));
    expect(s.found ? "" : s.message).toMatch(/^The wasmscope binary set in `wasmscope.path` was not found: \/nope\/wasmscope\./);
  });

  test("the real file system: a directory or a non-executable file is not the binary", () => {
    expect(resolveBinary({ setting: os.tmpdir(), extensionPath: ext }).found).toBe(false);
    expect(resolveBinary({ setting: __filename, extensionPath: ext }).found).toBe(false);
  });
});

describe("AdapterFactory", () => {
  test("runs `<binary> dap`", () => {
    const factory = new AdapterFactory(() => ({ found: true, path: "/b/wasmscope", origin: "path" }), vi.fn());
    const d = factory.createDebugAdapterDescriptor() as vscode.DebugAdapterExecutable;
    expect(d).toBeInstanceOf(vscode.DebugAdapterExecutable);
    expect([d.command, d.args]).toEqual(["/b/wasmscope", ["dap"]]);
  });

  test("a missing binary: the message is shown and the session fails with it", () => {
    const missing = vi.fn();
    const factory = new AdapterFactory(() => ({ found: false, tried: [], message: "no wasmscope; set wasmscope.path" }), missing);
    expect(() => factory.createDebugAdapterDescriptor()).toThrow("no wasmscope; set wasmscope.path");
    expect(missing).toHaveBeenCalledWith("no wasmscope; set wasmscope.path");
  });
});
