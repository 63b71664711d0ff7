#!/usr/bin/env bash
# Runs the tools installed under PREFIX on a live program, as a user of an
# installed hotpatch would: a tiny program built with PREFIX's plugin (by
# hand and through PREFIX's CMake package), diffed with PREFIX's hp-diff,
# patched while it runs with PREFIX's hp-apply; the new code must run and
# the process must live. Then the same fix made by PREFIX's hp-build from a
# make project and a .patch. Nothing from the build tree is used.
#   live.sh PREFIX SCRATCH-DIR
set -euo pipefail
prefix=$1 work=$2
clang=${HOTPATCH_TEST_CLANG:-clang-19}
plugin=$prefix/lib/hotpatch/hotpatch.so
fail() { echo "FAIL: $*" >&2; exit 1; }

for f in bin/hp-build bin/hp-diff bin/hp-apply bin/hp-inspect lib/hotpatch/hotpatch.so \
         lib/hotpatch/hotpatch-passes.so lib/hotpatch/hotpatch-exec.so \
         lib/cmake/Hotpatch/HotpatchConfig.cmake \
         lib/cmake/Hotpatch/HotpatchConfigVersion.cmake \
         lib/cmake/Hotpatch/hotpatch-toolchain.cmake \
         share/man/man1/hp-build.1.gz share/man/man1/hp-diff.1.gz share/man/man1/hp-inspect.1.gz \
         share/man/man8/hp-apply.8.gz share/man/man7/hotpatch.7.gz; do
  [ -e "$prefix/$f" ] || fail "not installed: $prefix/$f"
done
# Nothing installed names the build tree: the install works wherever it is.
if grep -rlI -- "${HOTPATCH_BUILD_DIR:-/nonexistent}" "$prefix" >/dev/null 2>&1; then
  fail "installed files name the build tree: $(grep -rlI -- "$HOTPATCH_BUILD_DIR" "$prefix" | head -3)"
fi
for tool in hp-build hp-diff hp-apply hp-inspect; do
  "$prefix/bin/$tool" --version >/dev/null || fail "$tool --version"
done

mkdir -p "$work/old" "$work/new"
program() {
  cat <<C
#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) int answer(void) { return $1; }
int main(void) {
  setvbuf(stdout, 0, _IONBF, 0);
  for (;;) { printf("%d\n", answer()); usleep(5000); }
}
C
}
program 1 >"$work/old/app.c"
program 42 >"$work/new/app.c"
for v in old new; do
  (cd "$work/$v" && "$clang" -fplugin="$plugin" -O2 -c app.c -o app.o &&
   "$clang" app.o -Wl,--build-id -o app) || fail "build ($v) with the installed plugin"
done
"$prefix/bin/hp-inspect" "$work/old/app.o" | grep -q "answer  global patchable" ||
  fail "hp-inspect: answer() is not patchable"
"$prefix/bin/hp-diff" -q "$work/old/app.o" "$work/new/app.o" --target "$work/old/app" \
  -o "$work/fix.hp" || fail "hp-diff"
"$prefix/bin/hp-inspect" "$work/fix.hp" | grep -q answer || fail "hp-inspect fix.hp: no answer()"

"$work/old/app" >"$work/out" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q . "$work/out" && break; sleep 0.02; done
grep -qx 1 "$work/out" || fail "the old program does not print 1"
"$prefix/bin/hp-apply" -p "$pid" "$work/fix.hp" >"$work/apply.log" 2>&1 ||
  { cat "$work/apply.log" >&2; fail "hp-apply"; }
for _ in $(seq 100); do grep -qx 42 "$work/out" && break; sleep 0.02; done
grep -qx 42 "$work/out" || fail "no new behaviour after the patch"
sleep 0.1
kill -0 "$pid" 2>/dev/null || fail "the patched process died"
"$prefix/bin/hp-apply" -p "$pid" --list | grep -q answer || fail "hp-apply --list: no answer()"
kill "$pid"; wait "$pid" 2>/dev/null || true
trap - EXIT
echo "live: $prefix: patched pid $pid, 1 -> 42, alive"

# hp-build: the release built and kept, then the fix from a .patch, the
# installed plugin found beside the installed hp-build.
mkdir -p "$work/make-src"
cp "$work/old/app.c" "$work/make-src/app.c"
printf 'app: app.o\n\t$(CC) -o app app.o\napp.o: app.c\n\t$(CC) -O2 -c app.c\n' >"$work/make-src/Makefile"
(cd "$work" && diff -u old/app.c new/app.c | sed '1s|old/|a/|; 2s|new/|b/|' >fix.patch) || true
"$prefix/bin/hp-build" -q -C "$work/make-src" --cache "$work/hp-build-cache" -- make \
  >"$work/hp-build.log" 2>&1 || { cat "$work/hp-build.log" >&2; fail "hp-build (the release)"; }
release=$(ls -d "$work"/hp-build-cache/*/old)
"$release/app" >"$work/out2" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
"$prefix/bin/hp-build" -q -C "$work/make-src" --cache "$work/hp-build-cache" \
  --patch "$work/fix.patch" --target "$release/app" -o "$work/fix2.hp" -- make \
  >"$work/hp-build.log" 2>&1 || { cat "$work/hp-build.log" >&2; fail "hp-build (the fix)"; }
"$prefix/bin/hp-apply" -p "$pid" "$work/fix2.hp" >"$work/apply.log" 2>&1 ||
  { cat "$work/apply.log" >&2; fail "hp-apply (hp-build's patch)"; }
for _ in $(seq 100); do grep -qx 42 "$work/out2" && break; sleep 0.02; done
grep -qx 42 "$work/out2" || fail "no new behaviour after hp-build's patch"
kill -0 "$pid" 2>/dev/null || fail "the process patched by hp-build's patch died"
kill "$pid"; wait "$pid" 2>/dev/null || true
trap - EXIT
echo "live: $prefix: hp-build made the fix from a .patch, 1 -> 42, alive"

# The installed CMake package, found where it lies (no build path in it).
mkdir -p "$work/cmake-src"
cp "$work/old/app.c" "$work/cmake-src/app.c"
cat >"$work/cmake-src/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(Hotpatch REQUIRED)
add_executable(app app.c)
hotpatch_enable(app)
if(OLD_BUILD)
  hotpatch_add_patch(NAME fix TARGET app OLD_BUILD ${OLD_BUILD})
endif()
C
cmake -S "$work/cmake-src" -B "$work/cmake-build" -G Ninja -DCMAKE_C_COMPILER="$clang" \
  -DCMAKE_PREFIX_PATH="$prefix" >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; fail "find_package(Hotpatch)"; }
cmake --build "$work/cmake-build" >>"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; fail "hotpatch_enable build"; }
"$prefix/bin/hp-inspect" "$work/cmake-build/app" | grep -q "answer  global patchable" ||
  fail "the CMake package's target is not patchable"
grep -q -- "-fplugin=$plugin" "$work/cmake-build/build.ninja" ||
  fail "the CMake package does not name $plugin"
echo "live: $prefix: find_package(Hotpatch) + hotpatch_enable() build patchable"

# hotpatch_add_patch(): the fixed sources' build tree makes the patch
# against the release's tree, with the installed hp-diff.
cp "$work/new/app.c" "$work/cmake-src/app.c"
cmake -S "$work/cmake-src" -B "$work/cmake-build-new" -G Ninja -DCMAKE_C_COMPILER="$clang" \
  -DCMAKE_PREFIX_PATH="$prefix" -DOLD_BUILD="$work/cmake-build" >"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log" >&2; fail "configure with hotpatch_add_patch"; }
cmake --build "$work/cmake-build-new" --target fix >>"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log" >&2; fail "hotpatch_add_patch's target"; }
"$prefix/bin/hp-inspect" "$work/cmake-build-new/fix.hp" | grep -q "answer: old" ||
  fail "hotpatch_add_patch's patch does not replace answer()"
echo "live: $prefix: hotpatch_add_patch() made the patch"
