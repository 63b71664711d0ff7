#!/usr/bin/env bash
# The main job: build the shipped example service with hotpatch, run it under
# load, show its bug, rebuild it with the fix, make the patch with hp-diff,
# apply it to the running process with hp-apply while the load runs, show the
# new behaviour, the kept state and the pause, then list and revert.
#
#   scripts/demo.sh           on this machine (x86_64)
#   scripts/demo.sh --arm64   the same story on an arm64 kernel under qemu
#                             (scripts/arm64-testbed.sh; docs/arm64-testbed.md)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh
export PATH="$root/build/bin:/usr/lib/llvm-19/bin:$PATH"

if [ "${1:-}" = --arm64 ]; then
  # The service and its patch are built for arm64 on this machine (the
  # plugin and hp-diff are the native ones: hp-diff writes arm64 patches),
  # hp-apply cross-built; the story itself runs in the guest
  # (test/arm64/guest/28-demo-counter-service.c, which checks each step).
  printf '\n\033[1m== The demo on arm64: a Debian arm64 kernel under qemu-system-aarch64\033[0m\n'
  bash scripts/arm64-testbed.sh --kernels 4k --only 28- --show
  work=build/arm64/scenarios/counter
  printf '\n\033[1m== The arm64 patch it applied, made on this machine\033[0m\n'
  hp-inspect "$work/fix.hp" | sed -n '1,12p'
  llvm-objdump -d "$work/fix.hp" | grep -A6 '<compute_tax>:'
  echo
  echo "demo (arm64): done"
  exit 0
fi

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

step "7. Apply it to the running service (pid $service_pid) while clients keep asking"
load() { # four clients asking for 2 seconds each, counting the answers
  for c in 1 2 3 4; do
    python3 - "$port" <<'PY' &
import socket, sys, time
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
    f = s.makefile("rw")
    n, end = 0, time.time() + 2
    while time.time() < end:
        f.write("price 100\n"); f.flush()
        if not f.readline().startswith("total"):
            sys.exit("bad answer")
        n += 1
    f.write("quit\n"); f.flush()
PY
  done
  wait
}
load &
load_pid=$!
sleep 0.5
echo "strict policy (the default): every thread stopped for microseconds, and only"
echo "when none is inside compute_tax(), the one function the fix replaces (the"
echo "connection loops that call it keep running and take the new code):"
hp-apply -p "$service_pid" "$work/fix.hp" || echo "(exit $?: refused, nothing changed)"
echo
echo "run again, it sees the process already runs this patch:"
hp-apply -p "$service_pid" "$work/fix.hp"
wait "$load_pid" && echo "load: every request during the patch was answered"
python3 examples/counter-service/client.py "$port" "price 10000" "price 250" "stats"
echo "the tax is right now, and 'served' kept counting from before the patch."

step "8. The patch as the process records it, and reverting it"
hp-apply -p "$service_pid" --list
hp-apply -p "$service_pid" --revert-all
python3 examples/counter-service/client.py "$port" "price 10000" "stats"
echo "(the bug is back: reverted) -- and once more, for good, with the entry-only"
echo "policy: no thread is stopped for the flip; a running call finishes the old code:"
hp-apply -p "$service_pid" "$work/fix.hp" --policy entry-only
python3 examples/counter-service/client.py "$port" "price 10000"
kill -0 "$service_pid" && echo "pid $service_pid is alive; it never restarted"
echo
echo "demo: done"
