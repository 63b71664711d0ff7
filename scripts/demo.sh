#!/usr/bin/env bash
# The main job: build the shipped example service with hotpatch, run it, show
# its bug, rebuild it with the fix, and show what hotpatch sees: the
# patchable prologues, the fingerprint table, which functions the fix
# changed, and the live patch hp-diff makes from the two builds. (Loading it
# into the running process, hp-apply, is the next stage: docs/status.md.)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh
export PATH="$root/build/bin:/usr/lib/llvm-19/bin:$PATH"

work=$(mktemp -d /tmp/hotpatch-demo.XXXXXX)
service_pid=""
cleanup() {
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Build the example twice with -fplugin=hotpatch.so (CMake: hotpatch_enable)"
for variant in old fixed; do
  fixed=OFF; [ "$variant" = fixed ] && fixed=ON
  cmake -S examples/counter-service -B "$work/$variant" -G Ninja \
    -DHotpatch_DIR="$root/build" -DCMAKE_C_COMPILER=clang-19 \
    -DCOUNTER_FIXED=$fixed >/dev/null
  cmake --build "$work/$variant" >/dev/null
  echo "built $work/$variant/counter-service"
done
echo "the fix, as a source diff:"
diff -u examples/counter-service/service.c examples/counter-service/fix/service.c \
  | grep -E '^[-+] ' | grep -v '^[-+] \*' || true

step "2. Run the old build and watch the bug (no tax on 10000 cents)"
"$work/old/counter-service" 0 > "$work/service.log" &
service_pid=$!
for _ in $(seq 50); do grep -q listening "$work/service.log" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$work/service.log")
cat "$work/service.log"
python3 examples/counter-service/client.py "$port" "price 10000" "price 250" "stats"

step "3. The patchable prologue of compute_tax in the running binary"
echo "14 bytes of padding (here: the last of them), then a 2-byte NOP at the entry (66 90):"
llvm-objdump -d "$work/old/counter-service" | grep -B3 -A4 '<compute_tax>:'

step "4. The fingerprint table the plugin left in the binary"
hp-inspect "$work/old/counter-service" | sed -n '1,20p'

step "5. What the fix changed, function by function (hp-inspect --compare)"
hp-inspect --compare "$work/old/counter-service" "$work/fixed/counter-service"
echo
echo "compute_tax changed, and so did every function the optimiser let depend"
echo "on its body; everything else, and the state in count_request.served, is"
echo "untouched. The old service is still running as pid $service_pid:"
python3 examples/counter-service/client.py "$port" "price 10000" "stats"

step "6. The live patch: hp-diff old objects -> new objects, resolved against the running binary"
hp-diff --old-dir "$work/old/CMakeFiles" --new-dir "$work/fixed/CMakeFiles" \
  --target "$work/old/counter-service" -o "$work/fix.hp"
hp-inspect "$work/fix.hp" | sed -n '1,12p'
echo "(readelf and llvm-objdump read it too: it is an ELF relocatable object)"
llvm-objdump -d -r "$work/fix.hp" | grep -A12 '<compute_tax>:' | grep -v '^ *[0-9a-f]*: 90 ' | head -8

step "7. The fixed build, for comparison (what applying fix.hp will make pid $service_pid do)"
"$work/fixed/counter-service" 0 > "$work/fixed.log" &
fixed_pid=$!
for _ in $(seq 50); do grep -q listening "$work/fixed.log" 2>/dev/null && break; sleep 0.1; done
fixed_port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$work/fixed.log")
python3 examples/counter-service/client.py "$fixed_port" "price 10000" "price 250"
kill "$fixed_pid"
echo
echo "demo: done"
