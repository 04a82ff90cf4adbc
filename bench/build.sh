#!/usr/bin/env bash
# Builds the benchmark kernels with Debian's clang for wasm32-wasi at -O2.
set -euo pipefail
cd "$(dirname "$0")/kernels"
for src in *.c; do
    clang --target=wasm32-wasi --sysroot=/usr -O2 -o "${src%.c}.wasm" "$src" -lm
done
echo "built: $(ls ./*.wasm | tr '\n' ' ')"
