import { defineConfig } from "vitest/config";

export default defineConfig({
  // The vscode double is CommonJS TypeScript (module.exports), as
  // jest-mock-vscode documents it.
  esbuild: { include: /\.[cm]?tsx?$/ },
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    // The launch-path and packaging tests spawn processes.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
