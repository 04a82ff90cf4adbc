#!/usr/bin/env bash
# What the engine's debug mode costs when nothing stops: each kernel of
# bench/kernels, built `-g -O2` as one debugs it, run plainly and with
# `--debug-hooks` (compiled as `wasmscope dap` compiles it: a flag check
# where each statement starts, locals read where the optimized code keeps
# them), in one hyperfine command per kernel. Prints medians and the ratio.
#
#   bench/debug-hooks.sh            # every kernel, 5 runs each
#   RUNS=10 bench/debug-hooks.sh fib
#
# Needs: hyperfine, python3, Debian's clang for wasm32-wasi (see build.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
wasmscope="${WASMSCOPE:-$root/target/release/wasmscope}"
runs="${RUNS:-5}"
[ -x "$wasmscope" ] || (cd "$root" && cargo build --release --quiet)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
    for k in "$root"/bench/kernels/*.wasm; do names+=("$(basename "$k" .wasm)"); done
fi
printf '%-10s %10s %12s %7s\n' kernel "plain (s)" "hooks (s)" ratio
for name in "${names[@]}"; do
    k="$out/$name.wasm"
    clang --target=wasm32-wasi --sysroot=/usr -g -O2 -o "$k" "$root/bench/kernels/$name.c" -lm
    hyperfine -N --warmup 1 --runs "$runs" --export-json "$out/$name.json" \
        -n plain "$wasmscope run $k" \
        -n hooks "$wasmscope run --debug-hooks $k" >/dev/null
    python3 - "$out/$name.json" "$name" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f'{sys.argv[2]:<10} {r["plain"]:>10.3f} {r["hooks"]:>12.3f} {r["hooks"]/r["plain"]:>6.2f}x')
PY
done
