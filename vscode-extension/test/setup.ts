// Every test gets the `vscode` double in __mocks__/vscode.cts.
import { vi } from "vitest";

vi.mock("vscode");
