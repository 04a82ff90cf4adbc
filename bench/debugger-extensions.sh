#!/usr/bin/env bash
# Time from `wasmscope gdb` / `wasmscope lldb` start to the first
# breakpoint (then exit) on the largest corpus program, with and without
# the Python extensions loaded. Needs hyperfine and the corpus
# (tests/fixtures/lang/build.sh). RUNS (default 10) runs each.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release/wasmscope"
program="${1:-$root/target/fixtures/lang/rust163-O0.wasm}"
line=$(grep -n 'STOP: main-all' "$root/tests/fixtures/lang/rust/inventory.rs" | cut -d: -f1)
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$(mktemp -d)}"
hyperfine -w 1 -r "${RUNS:-10}" -N \
    "$bin gdb -batch -ex 'break inventory.rs:$line' -ex run -- $program" \
    "$bin gdb --no-extensions -batch -ex 'break inventory.rs:$line' -ex run -- $program"
# (-i: lldb's exit status after `process kill` is now and then 1.)
hyperfine -i -w 1 -r "${RUNS:-10}" -N \
    "$bin lldb --batch -o 'breakpoint set -f inventory.rs -l $line' -o run -o 'process kill' -- $program" \
    "$bin lldb --no-extensions --batch -o 'breakpoint set -f inventory.rs -l $line' -o run -o 'process kill' -- $program"
