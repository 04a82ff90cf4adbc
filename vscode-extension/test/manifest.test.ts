// package.json's contributions, validated with a real JSON Schema validator
// (ajv): the manifest against a schema of the contribution points it uses,
// the debugger's launch attributes as a strict JSON Schema, and every
// configuration the extension writes or proposes against those attributes.
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv, { type ValidateFunction } from "ajv";
import { describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { ConfigurationProvider, configurationFor } from "../src/config";
import { EXTENSION, ROOT, folder } from "./helpers";

interface Manifest {
  name: string;
  version: string;
  engines: { vscode: string };
  main: string;
  icon: string;
  activationEvents: string[];
  capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } };
  devDependencies: Record<string, string>;
  dependencies?: Record<string, string>;
  contributes: {
    languages: { id: string; configuration: string }[];
    grammars: { language: string; path: string }[];
    commands: { command: string }[];
    menus: Record<string, { command: string }[]>;
    breakpoints: { language: string }[];
    configuration: { properties: Record<string, { default: unknown }> };
    debuggers: {
      type: string;
      languages: string[];
      configurationAttributes: { launch: { properties: Record<string, { description?: string; markdownDescription?: string; default?: unknown }> } };
      configurationSnippets: { label: string; body: Record<string, unknown> }[];
    }[];
    views: Record<string, { id: string }[]>;
    viewsWelcome: { view: string }[];
    customEditors: { viewType: string }[];
  };
}

const manifest = JSON.parse(fs.readFileSync(path.join(EXTENSION, "package.json"), "utf8")) as Manifest;
const debuggerContribution = manifest.contributes.debuggers[0];
const launchSchema = debuggerContribution.configurationAttributes.launch;

/** Keywords VS Code's JSON language service adds to JSON Schema. */
const VSCODE_KEYWORDS = ["markdownDescription", "enumDescriptions", "markdownEnumDescriptions", "deprecationMessage", "patternErrorMessage", "errorMessage", "defaultSnippets", "doNotSuggest", "scope", "order", "tags"];

function ajv(strictRequired = true): Ajv {
  const a = new Ajv({ strict: true, strictRequired, allErrors: true, allowUnionTypes: true });
  a.addVocabulary(VSCODE_KEYWORDS);
  return a;
}

function check(validate: ValidateFunction, value: unknown): void {
  const ok = validate(value);
  expect(ok ? [] : validate.errors, JSON.stringify(value)).toEqual([]);
}

const str = { type: "string", minLength: 1 };
const strings = { type: "array", items: str };
const when = { type: "string" };

/** The contribution points this extension uses, as VS Code documents them. */
const manifestSchema = {
  type: "object",
  required: ["name", "displayName", "description", "version", "publisher", "license", "engines", "main", "icon", "contributes", "activationEvents"],
  properties: {
    name: { type: "string", pattern: "^[a-z0-9][a-z0-9-]*$" },
    version: { type: "string", pattern: "^\\d+\\.\\d+\\.\\d+$" },
    publisher: { type: "string", pattern: "^[a-zA-Z0-9][a-zA-Z0-9-]*$" },
    engines: { type: "object", required: ["vscode"], properties: { vscode: { type: "string", pattern: "^\\^\\d+\\.\\d+\\.\\d+$" } } },
    main: { type: "string", pattern: "^\\./dist/extension\\.js$" },
    icon: { type: "string", pattern: "\\.png$" },
    categories: {
      type: "array",
      items: { enum: ["Programming Languages", "Snippets", "Linters", "Themes", "Debuggers", "Formatters", "Keymaps", "SCM Providers", "Other", "Extension Packs", "Language Packs", "Data Science", "Machine Learning", "Visualization", "Notebooks", "Education", "Testing"] },
    },
    activationEvents: {
      type: "array",
      items: { type: "string", pattern: "^(onLanguage|onCustomEditor|onFileSystem|onDebugResolve|onDebugDynamicConfigurations|onView|onCommand):[\\w.-]+$|^onDebugInitialConfigurations$|^onDebug$" },
    },
    capabilities: {
      type: "object",
      additionalProperties: false,
      properties: {
        untrustedWorkspaces: {
          type: "object",
          additionalProperties: false,
          required: ["supported", "description"],
          properties: { supported: { enum: [true, false, "limited"] }, description: str, restrictedConfigurations: strings },
        },
        virtualWorkspaces: {
          type: "object",
          additionalProperties: false,
          required: ["supported", "description"],
          properties: { supported: { enum: [true, false, "limited"] }, description: str },
        },
      },
    },
    contributes: {
      type: "object",
      additionalProperties: false,
      properties: {
        languages: {
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["id"],
            properties: { id: str, aliases: strings, extensions: { type: "array", items: { type: "string", pattern: "^\\." } }, configuration: str },
          },
        },
        grammars: {
          type: "array",
          items: { type: "object", additionalProperties: false, required: ["language", "scopeName", "path"], properties: { language: str, scopeName: str, path: str } },
        },
        customEditors: {
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["viewType", "displayName", "selector"],
            properties: {
              viewType: str,
              displayName: str,
              selector: { type: "array", minItems: 1, items: { type: "object", additionalProperties: false, required: ["filenamePattern"], properties: { filenamePattern: str } } },
              priority: { enum: ["default", "option"] },
            },
          },
        },
        commands: {
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["command", "title"],
            properties: { command: { type: "string", pattern: "^wasmscope\\." }, title: str, category: str, icon: { type: "string", pattern: "^\\$\\([a-z-]+\\)$" } },
          },
        },
        menus: {
          type: "object",
          propertyNames: { enum: ["commandPalette", "explorer/context", "editor/title/run", "editor/title", "view/title", "view/item/context", "editor/context"] },
          additionalProperties: {
            type: "array",
            items: { type: "object", additionalProperties: false, required: ["command"], properties: { command: str, when, group: str } },
          },
        },
        configuration: {
          type: "object",
          required: ["title", "properties"],
          properties: {
            title: str,
            properties: {
              type: "object",
              propertyNames: { pattern: "^wasmscope\\." },
              additionalProperties: {
                type: "object",
                required: ["type", "default"],
                anyOf: [{ required: ["description"] }, { required: ["markdownDescription"] }],
                properties: { type: { enum: ["string", "boolean", "number", "array", "object"] }, scope: { enum: ["application", "machine", "machine-overridable", "window", "resource", "language-overridable"] } },
              },
            },
          },
        },
        breakpoints: { type: "array", items: { type: "object", additionalProperties: false, required: ["language"], properties: { language: str } } },
        debuggers: {
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["type", "label", "configurationAttributes", "configurationSnippets"],
            properties: {
              type: str,
              label: str,
              languages: strings,
              configurationAttributes: { type: "object", additionalProperties: false, properties: { launch: { type: "object" }, attach: { type: "object" } } },
              configurationSnippets: {
                type: "array",
                items: {
                  type: "object",
                  additionalProperties: false,
                  required: ["label", "description", "body"],
                  properties: { label: str, description: str, body: { type: "object", required: ["type", "request", "name"] } },
                },
              },
            },
          },
        },
        taskDefinitions: { type: "array", items: { type: "object", required: ["type", "properties"], properties: { type: str, required: strings, properties: { type: "object" } } } },
        views: {
          type: "object",
          additionalProperties: {
            type: "array",
            items: { type: "object", additionalProperties: false, required: ["id", "name"], properties: { id: str, name: str, when } },
          },
        },
        viewsWelcome: { type: "array", items: { type: "object", additionalProperties: false, required: ["view", "contents"], properties: { view: str, contents: str, when } } },
      },
    },
  },
};

/** A snippet body as VS Code inserts it: `^"..."` is raw JSON, `${1:x}` becomes x, `\\$` a `$`. */
function expandSnippet(value: unknown): unknown {
  if (typeof value === "string") {
    const placeholders = (s: string) => s.replace(/\$\{\d+:([^}]*)\}/g, "$1").replace(/\\\$/g, "$");
    return value.startsWith("^") ? (JSON.parse(placeholders(value.slice(1))) as unknown) : placeholders(value);
  }
  if (Array.isArray(value)) {
    return value.map(expandSnippet);
  }
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandSnippet(v)]));
  }
  return value;
}

describe("package.json", () => {
  test("the manifest matches the schema of its contribution points", () => {
    // (strictRequired off: this schema requires fields it does not describe.)
    check(ajv(false).compile(manifestSchema), manifest);
  });

  test("launch attributes are a valid, strict JSON Schema with a description for each", () => {
    const validate = ajv().compile(launchSchema);
    expect(validate).toBeTypeOf("function");
    for (const [name, p] of Object.entries(launchSchema.properties)) {
      expect(p.markdownDescription ?? p.description, name).toMatch(/^.{20,}$/s);
      expect(p, name).toHaveProperty("default");
    }
    // The attributes, and the others the adapter reads.
    expect(Object.keys(launchSchema.properties).sort()).toEqual(["args", "cache", "cwd", "dirs", "env", "everyInstruction", "exactLocals", "invoke", "listingPath", "preload", "program", "sourceMap", "stopOnEntry", "stubImports"]);
  });

  test("the attributes are exactly the launch arguments `wasmscope dap` reads", () => {
    const dap = path.join(ROOT, "debug", "src", "dap.rs");
    if (!fs.existsSync(dap)) {
      return;
    }
    const source = fs.readFileSync(dap, "utf8");
    const start = source.indexOf("\nfn launch(");
    expect(start).toBeGreaterThan(0);
    const body = source.slice(start, source.indexOf("\n}\n", start));
    const read = new Set([...body.matchAll(/args\["(\w+)"\]/g)].map((m) => m[1]));
    expect([...read].sort()).toEqual(Object.keys(launchSchema.properties).sort());
  });

  test("bad configurations are rejected", () => {
    const validate = ajv().compile(launchSchema);
    for (const bad of [{}, { program: "" }, { program: "a.wasm", args: "x" }, { program: "a.wasm", env: { A: 1 } }, { program: "a.wasm", dirs: [":ro"] }, { program: "a.wasm", stopOnEntry: "yes" }, { program: "a.wasm", stubImports: 1 }, { program: "a.wasm", cache: 3 }, { program: "a.wasm", preload: ["acc.wasm"] }]) {
      expect(validate(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  test("snippets are valid launch configurations", () => {
    const validate = ajv().compile(launchSchema);
    for (const s of debuggerContribution.configurationSnippets) {
      const body = expandSnippet(s.body) as Record<string, unknown>;
      expect(body.type).toBe("wasmscope");
      check(validate, body);
    }
  });

  test("configurations the extension proposes and resolves are valid", async () => {
    const validate = ajv().compile(launchSchema);
    const provider = new ConfigurationProvider();
    vi.mocked(vscode.workspace.findFiles).mockResolvedValue([vscode.Uri.file("/w/a.wasm")]);
    for (const c of [...(await provider.provideDebugConfigurations(folder("/w"))), ...(await provider.provideDebugConfigurations(undefined))]) {
      check(validate, c);
    }
    check(validate, configurationFor("/w/a.wasm", { invoke: "f", stubImports: true }));
    check(validate, await provider.resolveDebugConfiguration(folder("/w"), { type: "wasmscope", request: "launch", name: "n", program: "a.wasm" }));
  });

  test("cross-references: commands, views, languages, files, versions", () => {
    const c = manifest.contributes;
    const commands = new Set(c.commands.map((x) => x.command));
    for (const [menu, items] of Object.entries(c.menus)) {
      for (const item of items) {
        expect(commands.has(item.command), `${menu}: ${item.command}`).toBe(true);
      }
    }
    const views = new Set(Object.values(c.views).flat().map((v) => v.id));
    for (const w of c.viewsWelcome) {
      expect(views.has(w.view)).toBe(true);
    }
    expect(Object.keys(c.views)).toEqual(["debug"]);
    // What a workspace may not set in Restricted Mode: existing settings.
    for (const setting of manifest.capabilities.untrustedWorkspaces.restrictedConfigurations) {
      expect(Object.keys(c.configuration.properties), setting).toContain(setting);
    }
    expect(c.breakpoints.map((b) => b.language)).toEqual(["wat", "c", "cpp", "rust"]);
    expect(debuggerContribution.type).toBe("wasmscope");
    expect(manifest.activationEvents).toEqual(
      expect.arrayContaining(["onLanguage:wat", "onLanguage:wast", "onDebugResolve:wasmscope", "onDebugInitialConfigurations", `onCustomEditor:${c.customEditors[0].viewType}`]),
    );
    for (const file of [manifest.icon, ...c.languages.map((l) => l.configuration), ...c.grammars.map((g) => g.path)]) {
      expect(fs.existsSync(path.join(EXTENSION, file)), file).toBe(true);
    }
    // vsce refuses @types/vscode newer than engines.vscode.
    expect(manifest.devDependencies["@types/vscode"]).toBe(manifest.engines.vscode.slice(1));
    // Everything is bundled: no runtime dependencies to ship.
    expect(manifest.dependencies ?? {}).toEqual({});
    for (const [name, version] of Object.entries(manifest.devDependencies)) {
      expect(version, name).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });

  test("the grammar's patterns compile", () => {
    const grammar = fs.readFileSync(path.join(EXTENSION, "syntaxes", "wat.tmLanguage.json"), "utf8");
    const patterns = [...grammar.matchAll(/"(?:match|begin|end)": ("(?:[^"\\]|\\.)*")/g)].map((m) => JSON.parse(m[1]) as string);
    expect(patterns.length).toBeGreaterThan(8);
    for (const p of patterns) {
      expect(() => new RegExp(p), p).not.toThrow();
    }
    const instruction = new RegExp(patterns.find((p) => p.startsWith("\\b[a-z][a-z0-9]*\\."))!);
    expect(instruction.exec("  i32.add")?.[0]).toBe("i32.add");
  });
});
