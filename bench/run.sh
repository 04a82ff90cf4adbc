#!/usr/bin/env bash
# Times whole processes under wasmscope, Wasmtime (the PyPI `wasmtime`
# wheel, 50.x, driven by bench/wasmtime-run.py) and node (V8, node:wasi) with
# hyperfine, in one run, and prints medians and ratios. Cases: the C kernels
# in bench/kernels, the zstd real program (tests/fixtures/real/build.sh) on
# a 20 MB file, and `hello` for startup time. Outputs are compared first.
#
#   bench/run.sh                   # everything, 5 runs each
#   RUNS=10 bench/run.sh sieve     # some cases, more runs
#
# Needs: hyperfine, node, `pip install wasmtime==50.0.1`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
wasmscope="${WASMSCOPE:-$root/target/release/wasmscope}"
runs="${RUNS:-5}"
[ -x "$wasmscope" ] || (cd "$root" && cargo build --release --quiet)
"$root/tests/fixtures/real/build.sh" >/dev/null
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# The zstd input: 8 MB of deterministic text in a preopened directory.
data="$out/data"
mkdir -p "$data"
python3 "$root/bench/text.py" 160000 "$data/input.txt"

declare -A wasm args
cases=()
for k in "$root"/bench/kernels/*.wasm; do
    name="$(basename "$k" .wasm)"
    cases+=("$name"); wasm[$name]="$k"; args[$name]=""
done
cases+=(zstd); wasm[zstd]="$root/target/fixtures/zstd.wasm"; args[zstd]="/data/input.txt /data 3"
cases+=(hello); wasm[hello]="$root/tests/fixtures/hello.wasm"; args[hello]=""
if [ "$#" -gt 0 ]; then cases=("$@"); fi

dir="--dir $data::/data"
for c in "${cases[@]}"; do
    w="${wasm[$c]}"; a="${args[$c]}"
    ws="$wasmscope run $dir $w $a"
    wt="python3 $root/bench/wasmtime-run.py $dir $w $a"
    nd="node --no-warnings $root/tests/node-wasi.mjs $dir $w $a"
    expected="$($ws)"
    cmds=(-n wasmscope "$ws")
    for peer in wasmtime node; do
        cmd="$wt"; [ "$peer" = node ] && cmd="$nd"
        if [ "$($cmd 2>/dev/null)" = "$expected" ]; then
            cmds+=(-n "$peer" "$cmd")
        else
            echo "note: $peer fails or prints differently on $c; left out" >&2
        fi
    done
    hyperfine -N --style none --warmup 1 --runs "$runs" --export-json "$out/$c.json" "${cmds[@]}" >/dev/null 2>&1
done

python3 - "$out" "${cases[@]}" <<'PY'
import json, sys
out, cases = sys.argv[1], sys.argv[2:]
print(f"{'case':<10} {'wasmscope':>10} {'wasmtime':>10} {'node':>10} {'ws/wt':>7} {'ws/node':>8}   (median seconds)")
for c in cases:
    r = {x["command"]: x["median"] for x in json.load(open(f"{out}/{c}.json"))["results"]}
    ws = r["wasmscope"]
    cell = lambda k: f"{r[k]:>10.3f}" if k in r else f"{'n/a':>10}"
    ratio = lambda k, w: f"{ws / r[k]:>{w}.2f}" if k in r else f"{'n/a':>{w}}"
    print(f"{c:<10} {ws:>10.3f} {cell('wasmtime')} {cell('node')} {ratio('wasmtime', 7)} {ratio('node', 8)}")
PY
