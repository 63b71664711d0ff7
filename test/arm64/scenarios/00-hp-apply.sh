# Cross-builds hp-apply for arm64 (static, cmake/aarch64-linux-gnu.cmake)
# into the guest's /bin, and the pause benchmark's floor
# (hp-bench-stop-floor, for test/arm64/bench). Run by scripts/arm64-testbed.sh with ROOT, BUILD,
# WORK, SYSROOT and ROOTFS set; ninja rebuilds only what changed.
set -euo pipefail
dir=$WORK/hp-apply
if [ ! -f "$dir/build.ninja" ]; then
  HOTPATCH_ARM64_SYSROOT=$SYSROOT cmake -S "$ROOT" -B "$dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" \
    -DHOTPATCH_APPLY_ONLY=ON -DBUILD_TESTING=OFF >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log" >&2; exit 1; }
fi
if ! ninja -C "$dir" -n 2>/dev/null | grep -q 'no work to do'; then
  echo "arm64-testbed: cross-building hp-apply"
  flock /tmp/hp-build.lock ninja -C "$dir" hp-apply hp-bench-stop-floor >"$dir.build.log" 2>&1 ||
    { tail -40 "$dir.build.log" >&2; exit 1; }
fi
for tool in hp-apply hp-bench-stop-floor; do
  if [ ! -e "$ROOTFS/bin/$tool" ] || [ "$dir/bin/$tool" -nt "$ROOTFS/bin/$tool" ]; then
    llvm-strip-19 "$dir/bin/$tool" -o "$ROOTFS/bin/$tool"
  fi
done
