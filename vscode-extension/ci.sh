#!/usr/bin/env bash
# CI of the VS Code extension: exact installs from package-lock.json, strict
# type check, lint, tests (unit tests, then the launch path, disassembly and
# run tests against the real binary, then the .vsix), and the .vsix itself.
# Needs the wasmscope binary: $WASMSCOPE, default ../target/release/wasmscope
# (built by `cargo build --release` or `cargo test --release` first).
set -euo pipefail
cd "$(dirname "$0")"
started=$SECONDS

echo "==> vscode-extension: npm ci ($(node --version), npm $(npm --version))"
npm ci --no-audit --no-fund

echo "==> vscode-extension: typecheck (tsc --noEmit, strict)"
npm run --silent typecheck

echo "==> vscode-extension: lint (eslint)"
npm run --silent lint

echo "==> vscode-extension: test (vitest)"
mkdir -p .test-output
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-output/vitest.json
status=$?
set -e
# The closing line CI reads, whatever vitest printed.
node -e '
  const r = JSON.parse(require("fs").readFileSync(".test-output/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`vscode-extension: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' || echo "vscode-extension: 0 passed, 1 failed"
if [ "$status" -ne 0 ]; then
    exit "$status"
fi

echo "==> vscode-extension: package (vsce)"
rm -f ./*.vsix
npm run --silent package
ls -l ./*.vsix

echo "==> vscode-extension: done in $((SECONDS - started)) s"
