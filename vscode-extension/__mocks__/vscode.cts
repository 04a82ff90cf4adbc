// The `vscode` module in unit tests: jest-mock-vscode's double, plus the
// few debug, task and tab API parts it lacks (plain classes that keep
// their constructor arguments, and vi.fn() registrations).
import { createVSCodeMock } from "jest-mock-vscode";
import { vi } from "vitest";

const base = createVSCodeMock(vi);

class DebugAdapterExecutable {
  constructor(
    readonly command: string,
    readonly args: string[] = [],
    readonly options?: { env?: Record<string, string>; cwd?: string },
  ) {}
}

class ProcessExecution {
  constructor(
    readonly process: string,
    readonly args: string[],
    readonly options?: { cwd?: string; env?: Record<string, string> },
  ) {}
}

class Task {
  presentationOptions: Record<string, unknown> = {};
  constructor(
    readonly definition: { type: string },
    readonly scope: unknown,
    readonly name: string,
    readonly source: string,
    readonly execution?: ProcessExecution,
    readonly problemMatchers?: string[],
  ) {}
}

class TabInputText {
  constructor(readonly uri: unknown) {}
}

class TabInputCustom {
  constructor(
    readonly uri: unknown,
    readonly viewType: string,
  ) {}
}

class DebugStackFrame {
  constructor(
    readonly session: unknown,
    readonly threadId: number,
    readonly frameId: number,
  ) {}
}

class RelativePattern {
  constructor(
    readonly base: unknown,
    readonly pattern: string,
  ) {}
}

const disposable = () => ({ dispose: vi.fn() });

const debug = Object.assign(base.debug, {
  activeDebugSession: undefined,
  activeStackItem: undefined,
  registerDebugConfigurationProvider: vi.fn(disposable),
  registerDebugAdapterTrackerFactory: vi.fn(disposable),
  onDidChangeActiveStackItem: vi.fn(disposable),
  onDidStartDebugSession: vi.fn(disposable),
});
vi.mocked(debug.registerDebugAdapterDescriptorFactory).mockImplementation(disposable);
vi.mocked(debug.onDidTerminateDebugSession).mockImplementation(disposable);

Object.assign(base.window, {
  tabGroups: Object.assign(base.window.tabGroups, {
    all: [{ tabs: [], activeTab: undefined, isActive: true, viewColumn: 1 }],
  }),
});

const vscode = {
  ...base,
  debug,
  DebugAdapterExecutable,
  ProcessExecution,
  Task,
  TabInputText,
  TabInputCustom,
  DebugStackFrame,
  RelativePattern,
  extensions: { getExtension: vi.fn(), all: [] },
  env: { clipboard: { writeText: vi.fn(), readText: vi.fn() } },
};

module.exports = vscode;
