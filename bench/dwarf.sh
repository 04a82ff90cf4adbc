#!/usr/bin/env bash
# What `-g` costs on the largest fixture, zstd built `-g -O0` (about 5 MB,
# most of it DWARF; tests/fixtures/real/build.sh):
# 1. the DWARF transform alone and the whole JIT image (with the generated
#    listing), in process: median time and peak heap
#    (debug/examples/transform_bench.rs);
# 2. whole processes compressing a 1 MB file, with and without `-g`, against
#    Wasmtime (the PyPI wheel, `pip install wasmtime==50.0.1`) with and
#    without `debug_info` when it is installed: hyperfine medians and ratios,
#    then peak RSS from `/usr/bin/time -v`.
#
#   bench/dwarf.sh          # RUNS=10 by default
#
# Needs: hyperfine, python3, GNU time, Debian's clang for wasm32-wasi.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${RUNS:-10}"
"$root/tests/fixtures/real/build.sh" >/dev/null
module="$root/target/fixtures/zstd-g.wasm"
(cd "$root" && cargo build --release --quiet --bin wasmscope && cargo build --release --quiet -p wasmscope-debug --example transform_bench)
wasmscope="$root/target/release/wasmscope"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# The listing goes to a cache dir; keep it out of the user's.
export XDG_CACHE_HOME="$out/cache"

echo "== in process"
"$root/target/release/examples/transform_bench" "$module" "$runs"

echo "== whole process (compress 1 MB at level 1)"
mkdir -p "$out/data"
python3 "$root/bench/text.py" 20000 "$out/data/input.txt"
dir="--dir $out/data::/data"
a="/data/input.txt /data 1"
names=(wasmscope wasmscope-g)
cmds=("$wasmscope run $dir $module $a" "$wasmscope run -g $dir $module $a")
if python3 -c 'import wasmtime' 2>/dev/null; then
    names+=(wasmtime wasmtime-g)
    cmds+=("python3 $root/bench/wasmtime-run.py $dir $module $a"
        "python3 $root/bench/wasmtime-run.py --debug-info $dir $module $a")
else
    echo "note: the wasmtime wheel is not installed; Wasmtime left out" >&2
fi
args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --style none --warmup 1 --runs "$runs" --export-json "$out/h.json" "${args[@]}" >/dev/null
for i in "${!names[@]}"; do
    # shellcheck disable=SC2086
    /usr/bin/time -f "%M" -o "$out/${names[$i]}.rss" ${cmds[$i]} >/dev/null
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
r = {x["command"]: x["median"] for x in json.load(open(f"{out}/h.json"))["results"]}
rss = {k: int(open(f"{out}/{k}.rss").read().split()[-1]) / 1024 for k in r}
print(f"{'':<12} {'median s':>9} {'peak RSS MiB':>13}")
for k in r:
    print(f"{k:<12} {r[k]:>9.3f} {rss[k]:>13.0f}")
print(f"-g costs wasmscope {r['wasmscope-g'] - r['wasmscope']:.3f} s ({r['wasmscope-g'] / r['wasmscope']:.2f}x)")
if "wasmtime-g" in r:
    print(f"-g costs wasmtime  {r['wasmtime-g'] - r['wasmtime']:.3f} s ({r['wasmtime-g'] / r['wasmtime']:.2f}x)")
    print(f"wasmscope -g / wasmtime -g: {r['wasmscope-g'] / r['wasmtime-g']:.2f}x time, "
          f"{rss['wasmscope-g'] / rss['wasmtime-g']:.2f}x peak RSS")
PY
