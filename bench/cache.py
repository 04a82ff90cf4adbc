#!/usr/bin/env python3
"""Whole-process times of `wasmscope run` against the Wasmtime CLI, with
both compiled-code caches warm (each tool's default) and with both off
(`--no-cache` / `-C cache=n`). Runs alternate between the tools, so a
machine that slows down slows both; prints medians and ratios.

    python3 bench/cache.py [RUNS] [CASE...]

Cases: the C kernels in bench/kernels, the zstd real program on an 8 MB
file (tests/fixtures/real/build.sh), the large modules of the language
corpus (tests/fixtures/lang/build.sh: a Rust -O2 build, C++ and Rust -O0
builds with DWARF of 3 to 8 MB) and hello world for start-up. Outputs are
compared before timing. Needs: `cargo build --release`, the Wasmtime CLI
on PATH or in $WASMTIME (`cargo install wasmtime-cli --version 48.0.8
--locked`). Each tool's cache is its own user cache: run alone.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WASMSCOPE = os.environ.get("WASMSCOPE", os.path.join(ROOT, "target/release/wasmscope"))
WASMTIME = os.environ.get("WASMTIME") or shutil.which("wasmtime")


def cases(data):
    out = {}
    kernels = os.path.join(ROOT, "bench/kernels")
    for f in sorted(os.listdir(kernels)):
        if f.endswith(".wasm"):
            out[f[:-5]] = (os.path.join(kernels, f), [])
    fixtures = os.path.join(ROOT, "target/fixtures")
    out["zstd"] = (
        os.path.join(fixtures, "zstd.wasm"),
        [f"--dir={data}::/data"],
        ["/data/input.txt", "/data", "3"],
    )
    for name in ["rust-O2", "cpp-O0", "rust163-O0"]:
        out[name] = (os.path.join(fixtures, "lang", f"{name}.wasm"), [])
    out["hello"] = (os.path.join(ROOT, "tests/fixtures/hello.wasm"), [])
    return {k: v if len(v) == 3 else (v[0], [], []) for k, v in out.items()}


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.perf_counter() - t0, p


def main():
    argv = sys.argv[1:]
    runs = int(argv.pop(0)) if argv and argv[0].isdigit() else 10
    if not WASMTIME:
        sys.exit("the Wasmtime CLI is not on PATH (or set WASMTIME)")
    data = tempfile.mkdtemp(prefix="wasmscope-bench-")
    subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench/text.py"), "160000", f"{data}/input.txt"],
        check=True,
    )
    all_cases = cases(data)
    chosen = argv or list(all_cases)
    version = subprocess.run([WASMTIME, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{version}; {runs} alternating runs per cell; median whole-process ms")
    print(f"{'case':<11} {'size':>7}  {'warm ws':>8} {'warm wt':>8} {'ratio':>6}  {'cold ws':>8} {'cold wt':>8} {'ratio':>6}")
    for name in chosen:
        if name not in all_cases:
            sys.exit(f"unknown case {name}; cases: {' '.join(all_cases)}")
        module, opts, args = all_cases[name]
        if not os.path.exists(module):
            print(f"{name:<11} missing {module}: build it first")
            continue
        modes = {
            "warm": ([WASMSCOPE, "run", *opts, module, *args], [WASMTIME, "run", *opts, module, *args]),
            "cold": (
                [WASMSCOPE, "run", "--no-cache", *opts, module, *args],
                [WASMTIME, "run", "-C", "cache=n", *opts, module, *args],
            ),
        }
        row = {}
        for mode, (ws, wt) in modes.items():
            # Warm-up (fills both caches) and the output check.
            _, a = run(ws)
            _, b = run(wt)
            if a.stdout != b.stdout or a.returncode != b.returncode:
                print(f"{name:<11} outputs differ ({mode}); left out")
                break
            times = {"ws": [], "wt": []}
            for i in range(runs):
                order = [("ws", ws), ("wt", wt)] if i % 2 == 0 else [("wt", wt), ("ws", ws)]
                for k, cmd in order:
                    times[k].append(run(cmd)[0])
            row[mode] = (statistics.median(times["ws"]) * 1e3, statistics.median(times["wt"]) * 1e3)
        if len(row) < 2:
            continue
        size = f"{os.path.getsize(module) / 1e6:.1f}MB"
        (w1, w2), (c1, c2) = row["warm"], row["cold"]
        print(f"{name:<11} {size:>7}  {w1:>8.1f} {w2:>8.1f} {w1 / w2:>6.2f}  {c1:>8.1f} {c2:>8.1f} {c1 / c2:>6.2f}")
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
