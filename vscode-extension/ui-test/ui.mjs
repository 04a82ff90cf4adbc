// The extension in a real VS Code (code-server) in Debian's chromium,
// used as a person would: keys, clicks, the command palette, the gutter.
// Every step asserts what the page shows and saves a screenshot.
//
//   node ui.mjs URL WORKSPACE OUT WASMSCOPE
//
// URL: a code-server with the packaged .vsix installed and no
// authentication; WORKSPACE: the folder run.sh prepared; OUT: where the
// screenshots and timings.json go; WASMSCOPE: the binary, typed into the
// wasmscope.path setting as a new user would. Exit 0 when every step passed.
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium } from "playwright-core";

const [url, workspace, out, binary] = process.argv.slice(2);
if (!url || !workspace || !out || !binary) {
  console.error("usage: node ui.mjs URL WORKSPACE OUT WASMSCOPE");
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
/** Where code-server keeps machine-scoped (Remote tab) settings. */
const machineSettings = path.join(process.env.CODE_SERVER_DATA ?? "", "Machine", "settings.json");

/** How long one wait may take before the step fails (code-server on 2 cores is slow to start). */
const PATIENCE = 30_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // A closed network: no background connections, no component updates.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.setDefaultTimeout(PATIENCE);

const timings = {};
let failed = 0;
let shot = 0;

/** Runs one step: its time, a screenshot at its end (also when it fails). */
async function step(name, body) {
  const started = performance.now();
  let error;
  try {
    await body();
  } catch (e) {
    error = e;
  }
  const ms = Math.round(performance.now() - started);
  timings[name] = ms;
  const file = path.join(out, `${String(++shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file }).catch(() => undefined);
  if (error) {
    failed++;
    console.log(`not ok - ${name} (${ms} ms): ${error.message.split("\n")[0]}\n  screenshot: ${file}`);
    throw error;
  }
  console.log(`ok - ${name} (${ms} ms)`);
}

/** A screenshot in the middle of a step (the README's pictures). */
async function snapshot(name) {
  await page.screenshot({ path: path.join(out, `${name}.png`) });
}

/** Waits until `locator`'s text matches `pattern`; the error quotes the text seen last. */
async function expectText(locator, pattern, what) {
  let seen = "";
  await waitFor(
    async () => {
      // Editors render spaces as no-break spaces.
      seen = (await locator.innerText({ timeout: 1000 }).catch(() => "")).replace(/\u00a0/g, " ");
      return pattern.test(seen);
    },
    () => `${what}: expected ${pattern}, saw ${JSON.stringify(seen.slice(0, 600))}`,
  );
  return seen;
}

const workbench = page.locator(".monaco-workbench");
const activeEditor = page.locator(".editor-group-container.active .editor-instance");
const variables = page.locator(".debug-pane .debug-variables, .debug-view-content .debug-variables").first();
const callStack = page.locator(".debug-call-stack").first();
const debugConsole = page.locator(".repl .monaco-list-rows").first();
const problems = page.locator(".markers-panel").first();
const statusBar = page.locator("#workbench\\.parts\\.statusbar");

/** The command palette: runs a command by its title. */
async function command(title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(`>${title}`);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor();
  await page.keyboard.press("Enter");
}

/** Quick Open (Ctrl+P): opens a workspace file by its relative path. */
async function open(relative) {
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(relative);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: path.basename(relative) }).first().waitFor();
  await page.keyboard.press("Enter");
  await page.locator(".tab.active", { hasText: path.basename(relative) }).waitFor();
}

/** The 1-based number of the first line of a workspace file containing `text`. */
function lineOf(relative, text) {
  const lines = fs.readFileSync(path.join(workspace, relative), "utf8").split("\n");
  const i = lines.findIndex((l) => l.includes(text));
  if (i < 0) {
    throw new Error(`${relative} has no line with ${JSON.stringify(text)}`);
  }
  return i + 1;
}

/** Scrolls the active editor to `line` (Ctrl+G) and clicks the gutter left of its number. */
async function gutterBreakpoint(line) {
  // A code lens arriving between measuring a line and clicking moves the
  // lines down (seen under load: the breakpoint landed 7 lines lower), so
  // the new glyph's line is checked, and a misplaced one taken back (F9 on
  // its line) before trying again.
  for (let attempt = 1; ; attempt++) {
    await goToLine(line);
    const before = await glyphLines(".codicon-debug-breakpoint");
    const number = activeEditor.locator(".margin-view-overlays .line-numbers", { hasText: new RegExp(`^${line}$`) }).first();
    const box = await number.boundingBox();
    if (!box) {
      throw new Error(`line ${line} is not on screen`);
    }
    // The glyph margin, where breakpoints are set, is left of the numbers.
    await page.mouse.click(box.x - 8, box.y + box.height / 2);
    await activeEditor.locator(".codicon-debug-breakpoint").first().waitFor();
    let added = [];
    for (let i = 0; i < 20 && added.length === 0; i++) {
      added = (await glyphLines(".codicon-debug-breakpoint")).filter((l) => !before.includes(l));
      if (added.length === 0) await page.waitForTimeout(100);
    }
    if (added.includes(line) || (added.length === 0 && before.includes(line))) {
      return;
    }
    if (attempt === 3) {
      throw new Error(`the breakpoint clicked beside line ${line} is on line(s) ${added.join(", ")}`);
    }
    for (const wrong of added) {
      await goToLine(wrong);
      await page.keyboard.press("F9");
    }
  }
}

async function goToLine(line) {
  await page.keyboard.press("Control+G");
  await page.locator(".quick-input-widget input").fill(`:${line}`);
  await page.keyboard.press("Enter");
}

/** The numbers of the lines beside every glyph matching `selector` in the active editor. */
async function glyphLines(selector) {
  const numbers = await lineNumbers();
  const lines = [];
  for (const marker of await activeEditor.locator(selector).all()) {
    const mark = await marker.boundingBox({ timeout: 1000 }).catch(() => null);
    const beside = mark && numbers.find((n) => Math.abs(n.y + n.height / 2 - (mark.y + mark.height / 2)) < n.height / 2);
    if (beside) lines.push(beside.line);
  }
  return lines;
}

/** The line the debugger shows as the current one in the active editor. */
function currentLine() {
  return glyphLine(".codicon-debug-stackframe");
}

/** The number of the line beside the first glyph matching `selector` in the active editor. */
async function glyphLine(selector) {
  const marker = activeEditor.locator(selector).first();
  await marker.waitFor();
  const mark = await marker.boundingBox();
  const beside = mark && (await lineNumbers()).find((n) => Math.abs(n.y + n.height / 2 - (mark.y + mark.height / 2)) < n.height / 2);
  if (!beside) {
    throw new Error(`no line number beside ${selector}`);
  }
  return beside.line;
}

/** The line numbers of the active editor on screen, with their places. */
async function lineNumbers() {
  const numbers = [];
  for (const n of await activeEditor.locator(".margin-view-overlays .line-numbers").all()) {
    // Lines re-render as lenses and hints arrive: a detached one is skipped.
    const b = await n.boundingBox({ timeout: 1000 }).catch(() => null);
    if (b) numbers.push({ y: b.y, height: b.height, line: Number((await n.innerText()).trim()) });
  }
  return numbers;
}

/** Waits until the debugger stops with the current line `line`. */
async function stoppedAt(line) {
  let seen;
  await waitFor(
    async () => {
      seen = await currentLine().catch(() => undefined);
      // The glyph beside the line, and the line itself highlighted.
      return seen === line && (await activeEditor.locator(".debug-top-stack-frame-line").count()) > 0;
    },
    () => `expected to stop at line ${line}, the current line is ${seen}`,
  );
}

/** Waits for `then`; when VS Code first asks which debugger, picks wasmscope's. */
async function pickDebuggerIfAsked(then) {
  const pick = page.locator(".quick-input-list .monaco-list-row", { hasText: "WebAssembly (wasmscope)" }).first();
  await Promise.race([pick.waitFor(), then.waitFor()]);
  if (await pick.isVisible()) {
    await pick.click();
  }
  await then.waitFor();
}

/** F5, until the debug toolbar shows. */
async function startDebugging() {
  await page.keyboard.press("F5");
  await pickDebuggerIfAsked(page.locator(".debug-toolbar"));
}

/** Polls `check` (sync or async) until it holds; `what` (or what it returns) names the wait in the error. */
async function waitFor(check, what) {
  const deadline = Date.now() + PATIENCE;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(typeof what === "function" ? what() : `timed out: ${what}`);
    }
    await page.waitForTimeout(200);
  }
}

/** The lines of the active editor on screen: number and text, top to bottom. */
async function visibleLines() {
  const numbers = await lineNumbers();
  const lines = [];
  for (const l of await activeEditor.locator(".view-lines .view-line").all()) {
    const b = await l.boundingBox({ timeout: 1000 }).catch(() => null);
    const number = b && numbers.find((n) => Math.abs(n.y - b.y) < 3);
    if (number) lines.push({ line: number.line, text: (await l.innerText()).replace(/\u00a0/g, " ") });
  }
  return lines.sort((a, b) => a.line - b.line);
}

async function showDebugConsole() {
  await command("Debug Console: Focus on Debug Console View");
  await debugConsole.waitFor();
}

async function endOfSession() {
  await page.locator(".debug-toolbar").waitFor({ state: "hidden" });
}

try {
  await step("open-workspace", async () => {
    await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`);
    await workbench.waitFor();
    await expectText(statusBar, /Restricted Mode/, "status bar");
  });

  await step("missing-binary-open-settings", async () => {
    // A new user: wasmscope is not on PATH and not configured yet.
    await open("broken.wat");
    const toast = page.locator(".notification-toast", { hasText: "The wasmscope binary was not found" });
    await toast.waitFor();
    await toast.locator(".monaco-button", { hasText: "Open Settings" }).click();
    const setting = page.locator(".settings-editor .setting-item", { hasText: "Wasmscope: Path" }).first();
    await setting.waitFor();
    const input = setting.locator("input").first();
    await input.fill(binary);
    await page.keyboard.press("Tab");
    // The settings editor writes after a short delay.
    await waitFor(() => fs.existsSync(machineSettings) && fs.readFileSync(machineSettings, "utf8").includes(binary), "wasmscope.path saved");
    await page.keyboard.press("Control+W");
  });

  await step("diagnostics-in-restricted-mode", async () => {
    await open("broken.wat");
    await activeEditor.locator(".squiggly-error").first().waitFor();
    await command("Problems: Focus on Problems View");
    await expectText(problems, /type mismatch: expected i32, found i64[\s\S]*\[Ln 6, Col 5\]/, "Problems");
  });

  await step("trust-the-folder", async () => {
    await command("Workspaces: Manage Workspace Trust");
    await page.locator(".workspace-trust-editor .monaco-button", { hasText: /^Trust$/ }).first().click();
    await page.waitForFunction(() => !document.querySelector("#workbench\\.parts\\.statusbar")?.textContent?.includes("Restricted Mode"));
  });

  const stopLine = lineOf("c/app.c", "int s = sum_list(&n1);");
  await step("c-breakpoint-and-f5", async () => {
    await open("c/app.c");
    await gutterBreakpoint(stopLine);
    await startDebugging();
    await stoppedAt(stopLine);
    await expectText(callStack, /main\s+app\.c\s+\d+:\d+/, "Call Stack");
  });

  await step("c-variables", async () => {
    // Locals is open at the first stop, without a click.
    await expectText(variables, /\bp\b[\s\S]*\bn1\b/, "Variables");
    await variables.locator(".monaco-list-row", { hasText: /^p\b|^p:/ }).first().click();
    await page.keyboard.press("ArrowRight");
    await expectText(variables, /x:\s*3[\s\S]*y:\s*4/, "Variables after expanding p");
  });

  await step("c-step-over", async () => {
    await page.keyboard.press("F10");
    await stoppedAt(stopLine + 1);
  });

  await step("c-continue-to-exit", async () => {
    await page.keyboard.press("F5");
    await endOfSession();
    await showDebugConsole();
    await expectText(debugConsole, /area=12 sum=60[\s\S]*Program exited with code 0\./, "Debug Console");
  });
  await step("wasm-without-dwarf-in-the-listing", async () => {
    await open("nodebug.wasm");
    // The module as text; a breakpoint on the first instruction of $triangle.
    await expectText(activeEditor, /\(func \$triangle/, "the .wasm as text");
    // The line after the header; local declarations are not instructions.
    // (Lenses and hints arrive late and re-render lines: read until stable.)
    let first;
    await waitFor(async () => {
      const lines = await visibleLines();
      const header = lines.findIndex((l) => l.text.includes("(func $triangle"));
      first = header < 0 ? undefined : lines.slice(header + 1).find((l) => !/^\s*\(local /.test(l.text))?.line;
      return first !== undefined;
    }, "$triangle in the listing on screen");
    await gutterBreakpoint(first);
    await startDebugging();
    await stoppedAt(first);
    await expectText(callStack, /triangle/, "Call Stack");
    await page.keyboard.press("F10");
    await stoppedAt(first + 1);
    await expectText(variables, /Wasm locals[\s\S]*\$?(var0|n|p0)/, "Variables");
  });

  await step("stop-button", async () => {
    await page.keyboard.press("Shift+F5");
    await endOfSession();
    await showDebugConsole();
    const text = await expectText(debugConsole, /Program stopped by the debugger\./, "Debug Console");
    if (/terminated by the debugger|trapped/.test(text)) {
      throw new Error(`Stop printed a failure: ${JSON.stringify(text)}`);
    }
  });

  await step("trap-stops-on-the-exception-filter", async () => {
    await open("c/trap.c");
    await startDebugging();
    await stoppedAt(lineOf("c/trap.c", "return a / b;"));
    await expectText(page.locator(".exception-widget").first(), /integer divide by zero/i, "exception widget");
    await expectText(page.locator(".pane-header", { hasText: "Call Stack" }), /Trap: integer divide by zero/, "Call Stack header");
    await expectText(callStack, /divide\s+trap\.c[\s\S]*main\s+trap\.c/, "Call Stack");
    await page.keyboard.press("F5");
    await endOfSession();
    await showDebugConsole();
    await expectText(debugConsole, /integer divide by zero[\s\S]*Program trapped \(exit code 134\)\./, "Debug Console");
  });

  await step("externrefs-in-the-references-view", async () => {
    await open("externrefs.wat");
    await gutterBreakpoint(lineOf("externrefs.wat", "nop)"));
    await startDebugging();
    await stoppedAt(lineOf("externrefs.wat", "nop)"));
    const header = page.locator(".pane-header", { hasText: "WebAssembly References & Memory" });
    if ((await header.getAttribute("aria-expanded")) !== "true") {
      await header.click();
    }
    const view = page.locator(".pane", { has: header }).locator(".pane-body");
    await expectText(view, /\$r[\s\S]*host\.make#1[\s\S]*\$g[\s\S]*host\.make#1/, "references view");
    await snapshot("externrefs");
    await page.keyboard.press("Shift+F5");
    await endOfSession();
  });

  // What each language's debugger shows: Rust's Vec and C++'s std::vector by size, strings as text.
  const languageValues = {
    rust: /args\s*[=:]\s*size=1[\s\S]*\bn\s*[=:]\s*3[\s\S]*greeting\s*[=:]\s*"welcome to the shop"[\s\S]*items\s*[=:]\s*size=3/,
    cpp: /argc\s*[=:]\s*1[\s\S]*\bn\s*[=:]\s*3[\s\S]*greeting\s*[=:]\s*"welcome to the shop"[\s\S]*items\s*[=:]\s*size=3/,
  };
  for (const [lang, file] of [["rust", "rust/inventory.rs"], ["cpp", "cpp/inventory.cpp"]]) {
    await step(`${lang}-values-as-the-language-shows-them`, async () => {
      await open(file);
      const line = lineOf(file, "STOP: main-all");
      await gutterBreakpoint(line);
      await startDebugging();
      await stoppedAt(line);
      await expectText(callStack, /main/, "Call Stack");
      // Room for the locals: Watch is empty here.
      const watch = page.locator(".pane-header", { hasText: /^Watch/ }).first();
      if ((await watch.getAttribute("aria-expanded")) === "true") {
        await watch.click();
      }
      await expectText(variables, languageValues[lang], "Variables");
      await snapshot(`${lang}-variables`);
      await page.keyboard.press("Shift+F5");
      await endOfSession();
    });
  }

  await step("create-launch-json", async () => {
    await command("View: Show Run and Debug");
    await page.locator(".welcome-view-content a, .welcome-view-content .monaco-button", { hasText: "create a launch.json file" }).first().click();
    await pickDebuggerIfAsked(page.locator(".tab.active", { hasText: "launch.json" }));
    const launch = path.join(workspace, ".vscode", "launch.json");
    await waitFor(() => fs.existsSync(launch), "launch.json written");
    const text = fs.readFileSync(launch, "utf8");
    const configurations = JSON.parse(text.replace(/^\s*\/\/.*$/gm, "")).configurations;
    // Every proposed configuration names a module that exists, under a
    // name of its own; the first one is F5's default.
    const names = configurations.map((c) => c.name);
    if (new Set(names).size !== names.length) {
      throw new Error(`launch.json repeats a name: ${names.join(", ")}`);
    }
    for (const c of configurations) {
      const program = c.program.replace("${workspaceFolder}", workspace);
      if (!fs.existsSync(program)) {
        throw new Error(`launch.json proposes ${c.program}, which does not exist (configurations: ${configurations.map((x) => x.name).join(", ")})`);
      }
    }
    await expectText(activeEditor, new RegExp(`"name": "${configurations[0].name}"`), "launch.json editor");
  });
} catch {
  // Reported by `step`.
} finally {
  fs.writeFileSync(path.join(out, "timings.json"), JSON.stringify(timings, null, 2) + "\n");
  await browser.close();
}
console.log(failed === 0 ? `ui-test: ${Object.keys(timings).length} steps passed` : `ui-test: a step failed`);
process.exit(failed === 0 ? 0 : 1);
