#!/usr/bin/env bash
# hp-diff on a large object pair, against the floor of merely reading both
# objects with LLVM's object library, measured in the same run.
#   a generated TU of LINES lines (default 100000) and its twin with one
#   function changed, both built -O2 with the plugin.
# Usage: bench/hp-diff.sh [LINES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-100000}
rounds=${2:-7}
plugin=$PWD/build/lib/hotpatch.so
out=bench/out
mkdir -p "$out/old" "$out/new"
test -x build/bin/hp-bench-read-objects || { echo "bench: build first (bash scripts/setup.sh)" >&2; exit 1; }

python3 bench/gen-tu.py "$lines" "$out/old/big.c" 2>/dev/null
python3 bench/gen-tu.py "$lines" "$out/new/big.c" 1 1234 2>/dev/null   # fn_1234 changed
if [ ! -f "$out/old/big.o" ] || [ "$out/old/big.c" -nt "$out/old/big.o" ]; then
  echo "building the pair ($lines lines each, -O2, with the plugin)..."
  clang-19 -O2 -fplugin="$plugin" -c "$out/old/big.c" -o "$out/old/big.o"
  clang-19 -O2 -fplugin="$plugin" -c "$out/new/big.c" -o "$out/new/big.o"
fi
ls -l "$out/old/big.o" "$out/new/big.o" | awk '{print "  " $5 " bytes  " $9}'

# The same pair linked (with --emit-relocs) into executables, for
# `hp-diff OLD-BINARY NEW-BINARY`.
printf 'int fn_0(int, int);\nint main(void) { return fn_0(1, 2) & 1; }\n' > "$out/main.c"
for v in old new; do
  if [ ! -f "$out/$v/big" ] || [ "$out/$v/big.o" -nt "$out/$v/big" ]; then
    clang-19 -O2 -fplugin="$plugin" -c "$out/main.c" -o "$out/main.o"
    clang-19 "$out/$v/big.o" "$out/main.o" -Wl,--emit-relocs -o "$out/$v/big"
  fi
done

# Both sides are whole processes (start-up and loading libLLVM included),
# alternating, best of ROUNDS.
best_of() {
  local best="" t0 t1 us
  for ((i = 0; i < rounds; i++)); do
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    us=$(( (t1 - t0) / 1000 ))
    if [ -z "$best" ] || [ "$us" -lt "$best" ]; then best=$us; fi
  done
  echo "$best"
}
floor_us=$(best_of build/bin/hp-bench-read-objects 1 "$out/old/big.o" "$out/new/big.o")
best=$(best_of build/bin/hp-diff -q "$out/old/big.o" "$out/new/big.o" -o "$out/big.hp")
inproc=$(build/bin/hp-bench-read-objects "$rounds" "$out/old/big.o" "$out/new/big.o" | awk '{print $1}')
echo "== hp-diff on a $lines-line pair, one function changed, best of $rounds"
build/bin/hp-inspect "$out/big.hp" | sed -n '/replaced functions/,/expects/p' | head -3
printf 'floor: a process reading both objects (LLVM object library)  %8d us\n' "$floor_us"
printf '       (the reading alone, in process: %d us)\n' "$inproc"
printf 'hp-diff, whole process, patch written                      %8d us\n' "$best"
printf 'ratio                                                      %8.2f   (target <= 3, and < 1 s)\n' \
  "$(awk "BEGIN { print $best / $floor_us }")"

floor_bin=$(best_of build/bin/hp-bench-read-objects 1 "$out/old/big" "$out/new/big")
best_bin=$(best_of build/bin/hp-diff -q "$out/old/big" "$out/new/big" -o "$out/big-bin.hp")
echo "== the same pair as two linked executables (--emit-relocs), best of $rounds"
build/bin/hp-inspect "$out/big-bin.hp" | sed -n '/replaced functions/,/expects/p' | head -2
printf 'floor: a process reading both executables                  %8d us\n' "$floor_bin"
printf 'hp-diff OLD-BINARY NEW-BINARY, patch written               %8d us\n' "$best_bin"
printf 'ratio                                                      %8.2f   (target <= 3, and < 1 s)\n' \
  "$(awk "BEGIN { print $best_bin / $floor_bin }")"
