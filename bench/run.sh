#!/usr/bin/env bash
# Times each benchmark kernel as a whole process under wasmscope and under
# node (V8, through its WASI) with hyperfine, in one run, and prints the
# medians and the ratio wasmscope/node. Outputs are compared first.
#
#   bench/run.sh                 # all kernels, 5 runs each
#   RUNS=10 bench/run.sh sieve   # some kernels, more runs
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
wasmscope="${WASMSCOPE:-$root/target/release/wasmscope}"
runs="${RUNS:-5}"
node_run=(node --no-warnings "$root/tests/node-wasi.mjs")
[ -x "$wasmscope" ] || (cd "$root" && cargo build --release --quiet)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

kernels=("$@")
if [ "${#kernels[@]}" -eq 0 ]; then
    for k in "$root"/bench/kernels/*.wasm; do kernels+=("$(basename "$k" .wasm)"); done
fi

for k in "${kernels[@]}"; do
    wasm="$root/bench/kernels/$k.wasm"
    if ! diff <("$wasmscope" run "$wasm") <("${node_run[@]}" "$wasm") >/dev/null; then
        echo "MISMATCH: $k prints differently under wasmscope and node" >&2
        exit 1
    fi
    hyperfine --style none --warmup 1 --runs "$runs" --export-json "$out/$k.json" \
        -n wasmscope "$wasmscope run $wasm" -n node "${node_run[*]} $wasm" >/dev/null
done

python3 - "$out" "${kernels[@]}" <<'PY'
import json, sys
out, kernels = sys.argv[1], sys.argv[2:]
print(f"{'kernel':<10} {'wasmscope (s)':>14} {'node (s)':>10} {'ratio':>7}")
for k in kernels:
    r = {x["command"]: x["median"] for x in json.load(open(f"{out}/{k}.json"))["results"]}
    print(f"{k:<10} {r['wasmscope']:>14.3f} {r['node']:>10.3f} {r['wasmscope'] / r['node']:>7.2f}")
PY
