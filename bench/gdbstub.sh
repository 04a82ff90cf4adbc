#!/usr/bin/env bash
# What `wasmscope run --gdb-port` costs with lldb 22 attached, as whole
# processes timed by hyperfine in one command per case:
#   plain     wasmscope run K.wasm
#   lldb      wasmscope run --gdb-port 0 K.wasm, lldb 22 connects
#             (process connect --plugin wasm) and continues to the end
# for kernels of bench/kernels built `-g` at -O0 and -O2. Then what an
# armed write watchpoint costs: bench/debugger/loop.c, N iterations,
# stopped at its loop to arm a watchpoint on a page the loop never
# touches, then on a word of the page it writes every iteration, against
# the same session without one. Then the attach time for the 5 MB zstd
# debug build (tests/fixtures/real/build.sh): lldb connecting to a stub
# that already waits, and with the stub's own start-up.
#
#   bench/gdbstub.sh                 # sieve and sha256, 5 runs each
#   RUNS=10 bench/gdbstub.sh fib     # other kernels, more runs
#
# Needs: hyperfine, python3, Debian's clang for wasm32-wasi, and lldb 22
# (tests/fixtures/lang/setup.sh unpacks it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
wasmscope="${WASMSCOPE:-$root/target/release/wasmscope}"
lldb="$root/tests/fixtures/lang/lldb22"
runs="${RUNS:-5}"
[ -x "$wasmscope" ] || (cd "$root" && cargo build --release --quiet)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# One debugging session: the stub, lldb connecting and running the
# commands given (each an -o argument), the stub's exit awaited.
cat >"$out/session.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
module="\$1"; shift
err="\$(mktemp)"
"$wasmscope" run --gdb-port 0 "\$module" \${ARGS:-} >/dev/null 2>"\$err" &
stub=\$!
until grep -q 'waiting for a debugger' "\$err"; do sleep 0.002; done
address="\$(grep -o '127.0.0.1:[0-9]*' "\$err" | head -1)"
args=(-b -o "process connect --plugin wasm connect://\$address")
for c in "\$@"; do args+=(-o "\$c"); done
"$lldb" "\${args[@]}" >/dev/null 2>&1
wait \$stub || true
rm -f "\$err"
EOF
chmod +x "$out/session.sh"

names=("$@")
[ "${#names[@]}" -gt 0 ] || names=(sieve sha256)
printf '%-14s %10s %10s %7s\n' kernel "plain (s)" "lldb (s)" ratio
for name in "${names[@]}"; do
    for opt in O0 O2; do
        k="$out/$name-$opt.wasm"
        clang --target=wasm32-wasi --sysroot=/usr -g "-$opt" -o "$k" \
            "$root/bench/kernels/$name.c" -lm
        # Warm the code cache for both compiles (plain and hooked).
        "$wasmscope" run "$k" >/dev/null
        "$out/session.sh" "$k" continue
        hyperfine -N --warmup 1 --runs "$runs" --export-json "$out/r.json" \
            -n plain "$wasmscope run $k" \
            -n lldb "$out/session.sh $k continue" >/dev/null
        python3 - "$out/r.json" "$name -$opt" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
p = r["plain"]
print(f'{sys.argv[2]:<14} {p:>10.3f} {r["lldb"]:>10.3f} {r["lldb"]/p:>6.2f}x')
PY
    done
done

# An armed watchpoint, per loop iteration (a `for` head, its body and
# its increment: three statements; `sum` and `i` stored each time). The
# engine closes the watched page: a watch on a page the loop never
# touches (address 16) costs nothing; a write watch on `n`, which shares
# its page (the stack frame) with `sum` and `i`, makes each of their
# stores fault and be stepped (two signals, three mprotect calls).
loop="$out/loop.wasm"
n=100000
clang --target=wasm32-wasi --sysroot=/usr -g -O0 -o "$loop" "$root/bench/debugger/loop.c"
stop="'breakpoint set -f loop.c -p \"i < n\"' continue 'breakpoint delete 1'"
ARGS=$n "$out/session.sh" "$loop" continue
ARGS=$n hyperfine -N --warmup 1 --runs "$runs" --export-json "$out/w.json" \
    -n unwatched "$out/session.sh $loop $stop continue" \
    -n "other page" "$out/session.sh $loop $stop 'watchpoint set expression -w write -s 4 -- 16' continue" \
    -n "same page" "$out/session.sh $loop $stop 'watchpoint set variable -w write n' continue" \
    >/dev/null
python3 - "$out/w.json" "$n" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2])
base = r["unwatched"]
for case in ("other page", "same page"):
    extra = r[case] - base
    # A difference of medians below zero is noise: no measurable cost.
    cost = f'{extra / n * 1e6:.2f} us per iteration' if extra > 0 else 'no measurable cost'
    print(f'write watchpoint, {case} ({n} iterations): {base:.3f} s -> {r[case]:.3f} s, {cost}')
PY

# Attach: lldb connecting to a stub that waits with the 5 MB module
# compiled (cache warm), reading it, and killing the guest; timed with the
# stub started (hyperfine's --prepare, untimed) and with its start-up.
zstd="$root/target/fixtures/zstd-g.wasm"
if [ -f "$zstd" ]; then
    cat >"$out/waiting.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
err="$out/waiting.err"
: >"\$err"
"$wasmscope" run --gdb-port 0 "$zstd" >/dev/null 2>"\$err" </dev/null &
until grep -q 'waiting for a debugger' "\$err"; do sleep 0.002; done
grep -o '127.0.0.1:[0-9]*' "\$err" | head -1 >"$out/address"
EOF
    cat >"$out/attach.sh" <<EOF
#!/usr/bin/env bash
exec "$lldb" -b -o "process connect --plugin wasm connect://\$(cat "$out/address")" -o "process kill" >/dev/null 2>&1
EOF
    chmod +x "$out/waiting.sh" "$out/attach.sh"
    "$out/session.sh" "$zstd" "process kill"
    hyperfine -N --warmup 1 --runs "$runs" --export-json "$out/a.json" \
        --prepare true --prepare "$out/waiting.sh" --prepare true \
        -n "lldb alone" "$lldb -b -o 'script 1'" \
        -n "attach + kill" "$out/attach.sh" \
        -n "start + connect + kill" "$out/session.sh $zstd 'process kill'" >/dev/null
    python3 - "$out/a.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f'zstd-g.wasm (5 MB): lldb start-up {r["lldb alone"]*1000:.0f} ms, '
      f'lldb attaching to the waiting stub and killing the guest {r["attach + kill"]*1000:.0f} ms, '
      f'stub start + connect + kill {r["start + connect + kill"]*1000:.0f} ms')
PY
fi
