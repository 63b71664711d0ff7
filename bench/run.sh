#!/usr/bin/env bash
# Build-time benchmarks, each a ratio against a baseline measured in the same
# run (no thresholds: bench/README.md records the numbers and the targets).
#   compile time: clang -O2 -c of a generated C TU, with the plugin / without
#   call overhead: a call-heavy program built with the plugin / without
# Usage: bench/run.sh [LINES] [REPS]   (defaults 60000 lines, 5 repetitions)
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-60000}
reps=${2:-5}
plugin=$PWD/build/lib/hotpatch.so
test -f "$plugin" || { echo "bench: build first (bash scripts/setup.sh)" >&2; exit 1; }
out=bench/out
mkdir -p "$out"

python3 bench/gen-tu.py "$lines" "$out/big.c"

# Wall time of one command, in seconds with 3 decimals.
timeit() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  awk "BEGIN { print $t1 - $t0 }"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "== compile time: clang-19 -O2 -c, $lines-line TU, $reps runs each, alternating"
base=(); with=()
for ((i = 0; i < reps; i++)); do
  base+=("$(timeit clang-19 -O2 -c "$out/big.c" -o "$out/base.o")")
  with+=("$(timeit clang-19 -O2 -c -fplugin="$plugin" "$out/big.c" -o "$out/hp.o")")
done
b=$(printf '%s\n' "${base[@]}" | median)
w=$(printf '%s\n' "${with[@]}" | median)
printf 'baseline (no plugin)   median %.3f s\n' "$b"
printf 'with hotpatch.so       median %.3f s\n' "$w"
printf 'ratio                  %.3f   (target <= 1.03)\n' "$(awk "BEGIN { print $w / $b }")"
llvm-objcopy-19 --dump-section=.hotpatch.fp="$out/table.bin" "$out/hp.o" "$out/scratch.o"
echo "(fingerprint table in the object: $(wc -c < "$out/table.bin") bytes)"

echo
echo "== call overhead: 9 non-inlined calls per iteration, -O2, $reps runs each, alternating"
clang-19 -O2 bench/calls.c -o "$out/calls-base"
clang-19 -O2 -fplugin="$plugin" bench/calls.c -o "$out/calls-hp"
base=(); with=()
for ((i = 0; i < reps; i++)); do
  base+=("$("$out/calls-base" | awk '{print $1}')")
  with+=("$("$out/calls-hp" | awk '{print $1}')")
done
b=$(printf '%s\n' "${base[@]}" | median)
w=$(printf '%s\n' "${with[@]}" | median)
printf 'baseline (no plugin)   median %.4f ns/call\n' "$b"
printf 'with prologue          median %.4f ns/call\n' "$w"
printf 'ratio                  %.4f  (target <= 1.01)\n' "$(awk "BEGIN { print $w / $b }")"
