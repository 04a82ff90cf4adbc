#!/usr/bin/env bash
# A long fuzzing campaign: every target (or the ones named) runs for HOURS,
# all at once, from fresh seeds; findings are kept and a summary written.
#
#   fuzz/campaign.sh HOURS [engine|debugger|dwarf|protocol|gdbstub ...]
#
# Seeds start at SEED (default: the current Unix time, printed), so two
# campaigns explore different cases and any case reruns with
# `wasmscope-fuzz TARGET --seed N --cases 1`. A case that kills the fuzzer
# process itself (a crash of the engine in-process) is recorded from the
# seed the fuzzer wrote before running it, and the campaign goes on from
# the next seed.
set -euo pipefail
cd "$(dirname "$0")/.."
hours="${1:?usage: fuzz/campaign.sh HOURS [TARGET ...]}"
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(engine debugger dwarf protocol gdbstub)
seed="${SEED:-$(date +%s)}"
rev="$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes')"
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
out="$target_dir/fuzz/campaign-$(date -u +%Y%m%dT%H%M%S)"
mkdir -p "$out/bin"

cargo build --release --workspace
# The campaign runs its own copies: a rebuild meanwhile changes nothing.
cp "$target_dir/release/wasmscope" "$target_dir/release/wasmscope-fuzz" "$out/bin/"

seconds=$(python3 -c "print(int(float('$hours') * 3600))")
echo "campaign: ${targets[*]} for $hours h each, from seed $seed, in $out"

run_target() {
    local target="$1" start="$seed" deadline=$(( $(date +%s) + seconds ))
    while :; do
        local left=$(( deadline - $(date +%s) ))
        [ "$left" -gt 0 ] || break
        set +e
        "$out/bin/wasmscope-fuzz" "$target" --seed "$start" --seconds "$left" \
            --keep-going --out "$out" >>"$out/$target.log" 2>&1
        local status=$?
        set -e
        if [ "$status" -le 1 ]; then
            break
        fi
        # The process died on a case: that case is a finding.
        local current
        current="$(cat "$out/$target.current" 2>/dev/null || echo "$start")"
        echo "$target: the fuzzer died (status $status) on seed $current" >>"$out/$target.log"
        mkdir -p "$out/$target-$current"
        # Status 3: the watchdog saved the case as a hang already.
        [ -f "$out/$target-$current/finding.txt" ] ||
            echo "the fuzzer process died (status $status); reproduce: wasmscope-fuzz $target --seed $current --cases 1" \
                >"$out/$target-$current/finding.txt"
        cp "$out/$target-work/current.txt" "$out/$target-$current/" 2>/dev/null || true
        echo "{\"target\":\"$target\",\"seed\":$current,\"died\":$status}" >>"$out/summary.jsonl"
        start=$(( current + 1 ))
    done
}

for t in "${targets[@]}"; do
    run_target "$t" &
done
wait

{
    echo "# Fuzzing campaign $(basename "$out")"
    echo
    echo "$hours h per target, from seed $seed; wasmscope $rev."
    echo
    for t in "${targets[@]}"; do
        echo "## $t"
        echo
        echo '```'
        grep -E "^$t: " "$out/$t.log" || true
        echo '```'
        echo
        ls -d "$out/$t"-[0-9]* 2>/dev/null | while read -r d; do
            echo "- finding: $(head -1 "$d/finding.txt") ($d)"
        done
        known=$(ls -d "$out/$t"-known-* 2>/dev/null | wc -l)
        [ "$known" = 0 ] || echo "- $known cases of known open issues ($out/$t-known-*)"
        echo
    done
} >"$out/summary.md"
cat "$out/summary.md"
