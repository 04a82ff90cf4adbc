// Bundles the extension into one file, dist/extension.js, with its runtime
// dependency (vscode-languageclient) inside: the .vsix carries no node_modules.
import { build } from "esbuild";

await build({
  entryPoints: ["src/extension.ts"],
  bundle: true,
  outfile: "dist/extension.js",
  external: ["vscode"],
  format: "cjs",
  platform: "node",
  target: "node18",
  minify: process.argv.includes("--minify"),
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});
