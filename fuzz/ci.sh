#!/usr/bin/env bash
# Every fuzz target for a bounded time from fixed seeds (what CI runs on
# every change; together under 5 minutes). A finding fails the run and is
# saved under target/fuzz/ci with its reproducer; known open issues
# (fuzz/README.md) are counted, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
cargo build --release --workspace --bins
fuzz="$target_dir/release/wasmscope-fuzz"
out="$target_dir/fuzz/ci"
rm -rf "$out"
status=0
for spec in "engine 90" "debugger 90" "dwarf 30" "protocol 30" "gdbstub 30"; do
    set -- $spec
    "$fuzz" "$1" --seed 0 --seconds "$2" --out "$out" || status=1
done
# Seeds that once found a bug, rerun on every change (csmith's programs
# are a function of its seed and version: Debian's csmith 2.3.0).
#   111: gdb showed bytes past an 8-byte constant stack value, and zeros
#        for bytes no piece covers, at -O2 (JIT image DWARF)
#   126, 148: the same, for arrays of pointers
for seed in 111 126 148; do
    "$fuzz" debugger --seed "$seed" --cases 1 --out "$out/regressions" || status=1
done
if [ "$status" -ne 0 ]; then
    echo "fuzzing found something: see $out/*/finding.txt" >&2
    for f in "$out"/*/finding.txt "$out"/regressions/*/finding.txt; do
        [ -e "$f" ] || continue
        case "$f" in *-known-*) continue ;; esac
        echo "== $f" >&2
        head -20 "$f" >&2
    done
fi
exit "$status"
