// Where the `wasmscope` binary is: the `wasmscope.path` setting, else the
// binary bundled in the extension (`bin/wasmscope`), else `wasmscope` on PATH.
// Pure (no `vscode` import) so it is tested without an editor.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const SETTING = "wasmscope.path";

export type Origin = "setting" | "bundled" | "path";

export type Resolution =
  | { found: true; path: string; origin: Origin }
  | { found: false; tried: string[]; message: string };

export interface Environment {
  /** `wasmscope.path`, as the user wrote it ("" = unset). */
  setting: string;
  /** The extension's install directory. */
  extensionPath: string;
  /** The first workspace folder, for a relative setting. */
  workspaceFolder?: string;
  platform?: NodeJS.Platform;
  /** PATH (and PATHEXT on Windows) of the extension host. */
  env?: NodeJS.ProcessEnv;
  isExecutable?: (file: string) => boolean;
}

function executable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) {
      return false;
    }
    if (process.platform === "win32") {
      return true;
    }
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function exeName(platform: NodeJS.Platform): string {
  return platform === "win32" ? "wasmscope.exe" : "wasmscope";
}

/** The candidates `name` stands for on PATH. */
function onPath(name: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string[] {
  const p = platform === "win32" ? path.win32 : path.posix;
  const dirs = (env.PATH ?? env.Path ?? "").split(platform === "win32" ? ";" : ":").filter((d) => d.length > 0);
  const exts =
    platform === "win32" && p.extname(name) === "" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";") : [""];
  return dirs.flatMap((d) => exts.map((e) => p.join(d, name + e.toLowerCase())));
}

/** The binary to run, or what was tried and how to fix it. */
export function resolveBinary(e: Environment): Resolution {
  const platform = e.platform ?? process.platform;
  const env = e.env ?? process.env;
  const isExe = e.isExecutable ?? executable;
  const p = platform === "win32" ? path.win32 : path.posix;
  const tried: string[] = [];
  const setting = e.setting.trim();
  if (setting !== "") {
    let file = setting;
    if (file === "~" || file.startsWith("~/")) {
      file = p.join(os.homedir(), file.slice(1));
    }
    const bare = !file.includes("/") && !(platform === "win32" && file.includes("\\"));
    const candidates = bare
      ? onPath(file, env, platform)
      : [p.isAbsolute(file) ? file : p.resolve(e.workspaceFolder ?? process.cwd(), file)];
    for (const c of candidates) {
      tried.push(c);
      if (isExe(c)) {
        return { found: true, path: c, origin: "setting" };
      }
    }
    return { found: false, tried, message: missingMessage(setting, bare ? [`${setting} on PATH`] : tried) };
  }
  const bundled = p.join(e.extensionPath, "bin", exeName(platform));
  tried.push(bundled);
  if (isExe(bundled)) {
    return { found: true, path: bundled, origin: "bundled" };
  }
  for (const c of onPath(exeName(platform), env, platform)) {
    tried.push(c);
    if (isExe(c)) {
      return { found: true, path: c, origin: "path" };
    }
  }
  return { found: false, tried, message: missingMessage("", ["the extension's bin/ folder", "PATH"]) };
}

/** The message shown when the binary is missing: what, where, and the fix. */
export function missingMessage(setting: string, looked: string[]): string {
  const what =
    setting === ""
      ? `The wasmscope binary was not found (looked in ${looked.join(" and ")}).`
      : `The wasmscope binary set in \`${SETTING}\` was not found: ${looked.join(", ")}.`;
  return (
    `${what} Install it with \`cargo install --path .\` in a wasmscope checkout ` +
    `(it goes to ~/.cargo/bin, which must be on PATH), or set \`${SETTING}\` to the binary's full path.`
  );
}
