// `vsce package` produces a .vsix that VS Code can install: unzipped here,
// its manifest matches package.json and it carries only what the extension
// needs at run time (no sources, tests, node_modules, configs or maps).
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { builtinModules } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { EXTENSION } from "./helpers";
import { readZip, type ZipEntry } from "./zip";

const run = promisify(execFile);
const manifest = JSON.parse(fs.readFileSync(path.join(EXTENSION, "package.json"), "utf8")) as {
  name: string;
  publisher: string;
  version: string;
  displayName: string;
  engines: { vscode: string };
  scripts: Record<string, string>;
};

let out: string;
let entries: ZipEntry[];
let vsixSize: number;

beforeAll(async () => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), "wasmscope-vsix-"));
  const vsix = path.join(out, "wasmscope.vsix");
  // The package script's own vsce invocation, with the output redirected.
  const script = manifest.scripts.package;
  expect(script).toMatch(/^vsce package /);
  const vsce = path.join(EXTENSION, "node_modules", "@vscode", "vsce", "vsce");
  const args = [...script.split(" ").slice(2), "--out", vsix];
  await run(process.execPath, [vsce, "package", ...args], { cwd: EXTENSION, env: { ...process.env, CI: "true" } });
  const data = fs.readFileSync(vsix);
  vsixSize = data.length;
  entries = readZip(data);
}, 180_000);

afterAll(() => {
  fs.rmSync(out, { recursive: true, force: true });
});

const text = (name: string) => entries.find((e) => e.name === name)?.data.toString("utf8") ?? "";

describe("the .vsix", () => {
  test("holds exactly the run-time files", () => {
    expect(entries.map((e) => e.name).sort()).toEqual(
      [
        "[Content_Types].xml",
        "extension.vsixmanifest",
        "extension/LICENSE.txt",
        "extension/changelog.md",
        "extension/dist/extension.js",
        "extension/icon.png",
        "extension/images/diagnostics.png",
        "extension/images/externrefs.png",
        "extension/images/stopped-at-a-breakpoint.png",
        "extension/language-configuration.json",
        "extension/package.json",
        "extension/readme.md",
        "extension/syntaxes/wat.tmLanguage.json",
      ].sort(),
    );
    for (const e of entries) {
      expect(e.name).not.toMatch(/(^|\/)(src|test|__mocks__|scripts|node_modules)\/|\.ts$|\.map$|tsconfig|eslint|vitest|esbuild|\.vscodeignore|package-lock|ci\.sh|\.gitignore/);
    }
    expect(vsixSize).toBeLessThan(1 << 20);
    // The README's pictures travel with it (VS Code shows them from the extension's folder).
    const pictures = [...text("extension/readme.md").matchAll(/\]\((images\/[^)]+)\)/g)].map((m) => `extension/${m[1]}`);
    expect(pictures.length).toBeGreaterThan(0);
    for (const p of pictures) {
      expect(entries.map((e) => e.name), p).toContain(p);
    }
  });

  test("its manifest names the extension, its version, engine, icon and files", () => {
    const vsixManifest = text("extension.vsixmanifest");
    expect(vsixManifest).toContain(`<Identity Language="en-US" Id="${manifest.name}" Version="${manifest.version}" Publisher="${manifest.publisher}"`);
    expect(vsixManifest).toContain(`<DisplayName>${manifest.displayName}</DisplayName>`);
    expect(vsixManifest).toContain(`<Property Id="Microsoft.VisualStudio.Code.Engine" Value="${manifest.engines.vscode}" />`);
    expect(vsixManifest).toContain('Path="extension/icon.png"');
    expect(vsixManifest).toContain('Type="Microsoft.VisualStudio.Services.Content.Details" Path="extension/readme.md"');
    expect(vsixManifest).toContain('Type="Microsoft.VisualStudio.Services.Content.License" Path="extension/LICENSE.txt"');
    expect(vsixManifest).toMatch(/Microsoft\.VisualStudio\.Code\.ExtensionKind" Value="workspace"/);
    // The shipped package.json is ours.
    const shipped = JSON.parse(text("extension/package.json")) as typeof manifest & { contributes: unknown };
    const ours = JSON.parse(fs.readFileSync(path.join(EXTENSION, "package.json"), "utf8")) as { contributes: unknown };
    expect(shipped.contributes).toEqual(ours.contributes);
    expect(text("[Content_Types].xml")).toContain('Extension=".js"');
  });

  test("the bundle is self-contained: only `vscode` and node built-ins are required", () => {
    const bundle = text("extension/dist/extension.js");
    expect(bundle.length).toBeGreaterThan(50_000);
    const required = new Set([...bundle.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]));
    const builtins = new Set(["vscode", ...builtinModules]);
    expect([...required].filter((r) => !builtins.has(r.replace(/^node:/, "")))).toEqual([]);
    expect(bundle).toContain("wasmscope/disassemble");
  });

  test("the icon is a 128×128 PNG", () => {
    const png = entries.find((e) => e.name === "extension/icon.png")!.data;
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([128, 128]);
  });
});
