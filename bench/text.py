"""Writes LINES lines of deterministic pseudo-words (8 per line) to OUT: the
input the zstd benchmarks compress (bench/run.sh, bench/dwarf.sh).

    python3 bench/text.py LINES OUT
"""
import random
import sys

lines, out = int(sys.argv[1]), sys.argv[2]
random.seed(7)
words = ["".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(random.randint(2, 9))) for _ in range(3000)]
with open(out, "w") as f:
    for _ in range(lines):
        f.write(" ".join(random.choice(words) for _ in range(8)) + "\n")
