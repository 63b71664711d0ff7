#!/usr/bin/env python3
"""Writes a large, varied C translation unit: gen-tu.py LINES OUT.c [SEED]

Functions of ~20 lines with loops, switches, arithmetic, calls to earlier
functions, static tables, string literals and static locals, so the
optimiser and the fingerprint pass both have real work. Deterministic for a
given seed; SEED lets a benchmark make a one-function-changed twin."""
import random
import sys

lines_wanted = int(sys.argv[1])
out_path = sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
changed = int(sys.argv[4]) if len(sys.argv) > 4 else -1  # index of a changed fn

rng = random.Random(1234)
out = ["#include <stddef.h>", "#include <string.h>", ""]
i = 0
while len(out) < lines_wanted:
    k = rng.randrange(5)
    bump = 1 if i == changed else 0
    out.append(f"static const int table_{i}[8] = {{{', '.join(str(rng.randrange(100)) for _ in range(8))}}};")
    out.append(f"int counter_{i};")
    out.append(f"__attribute__((noinline)) int fn_{i}(int a, int b) {{")
    out.append(f"  static int calls;")
    out.append(f"  int acc = a * {rng.randrange(1, 50) + bump} + b;")
    out.append(f"  for (int j = 0; j < (b & 15); ++j) {{")
    out.append(f"    acc += table_{i}[j & 7] ^ (acc >> {rng.randrange(1, 7)});")
    out.append(f"    if (acc > {rng.randrange(1000, 100000)}) acc -= a;")
    out.append(f"  }}")
    out.append(f"  switch (acc & 3) {{")
    out.append(f"  case 0: acc += {rng.randrange(100)}; break;")
    out.append(f"  case 1: acc ^= (int)strlen(\"s{i}_{rng.randrange(1000)}\"); break;")
    out.append(f"  case 2: acc *= {rng.randrange(2, 9)}; break;")
    out.append(f"  default: acc -= b; break;")
    out.append(f"  }}")
    if i > 0:
        callee = rng.randrange(i)
        out.append(f"  if ((acc & 31) == {k}) acc += fn_{callee}(b, acc & 255);")
    else:
        out.append(f"  acc += {k};")
    out.append(f"  counter_{i} += acc & 7;")
    out.append(f"  return acc + ++calls;")
    out.append(f"}}")
    out.append("")
    i += 1
out.append("int run_all(int x) {")
out.append("  int s = 0;")
for j in range(0, i, max(1, i // 64)):
    out.append(f"  s += fn_{j}(x, s & 255);")
out.append("  return s;")
out.append("}")
with open(out_path, "w") as f:
    f.write("\n".join(out) + "\n")
print(f"gen-tu: {len(out)} lines, {i} functions -> {out_path}", file=sys.stderr)
