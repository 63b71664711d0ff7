#!/usr/bin/env bash
# The main job: build the shipped example service with hotpatch, run it, show
# its bug, rebuild it with the fix, and show what hotpatch sees: the
# patchable prologues, the fingerprint table, and exactly which functions the
# fix changed. (Making the patch and loading it into the running process,
# hp-diff and hp-apply, are the next stages; see docs/status.md.)
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
diff -u examples/counter-service/service.c examples/counter-service/service-fixed.c \
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

step "6. The fixed build, for comparison (what a live patch will make pid $service_pid do)"
"$work/fixed/counter-service" 0 > "$work/fixed.log" &
fixed_pid=$!
for _ in $(seq 50); do grep -q listening "$work/fixed.log" 2>/dev/null && break; sleep 0.1; done
fixed_port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$work/fixed.log")
python3 examples/counter-service/client.py "$fixed_port" "price 10000" "price 250"
kill "$fixed_pid"
echo
echo "demo: done"
