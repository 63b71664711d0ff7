#!/usr/bin/env bash
# ctest "package": cpack -G DEB makes the Debian package; its control file
# declares what the files load, and it holds every tool, both plugins, the
# CMake package and the man pages. Then it is unpacked into a scratch root
# (dpkg-deb -x: no root, nothing touches the host's dpkg database) and the
# tools in it run on a live program (live.sh). Installing it for real is
# `apt-get install ./hotpatch_*.deb`.
#   package.sh BUILD-DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hotpatch-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB"; }
deb=$(ls "$tmp"/out/hotpatch_*.deb)
echo "package: $(basename "$deb")"

dpkg-deb -I "$deb" >"$tmp/info"
depends=$(sed -n 's/^ Depends: //p' "$tmp/info")
echo "package: Depends: $depends"
for dep in clang-19 libclang-cpp19 libllvm19 libelf1 libdw1 'libstdc++6' libc6; do
  grep -qE "(^|, )${dep//+/\\+}( |,|$)" <<<"$depends" || fail "Depends lacks $dep"
done
grep -q "^ Package: hotpatch$" "$tmp/info" || fail "not package hotpatch"

dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$tmp/files"
for f in /usr/bin/hp-build /usr/bin/hp-diff /usr/bin/hp-apply /usr/bin/hp-inspect \
         /usr/lib/hotpatch/hotpatch.so /usr/lib/hotpatch/hotpatch-passes.so \
         /usr/lib/hotpatch/hotpatch-exec.so \
         /usr/lib/cmake/Hotpatch/HotpatchConfig.cmake \
         /usr/lib/cmake/Hotpatch/hotpatch-toolchain.cmake \
         /usr/share/man/man1/hp-build.1.gz /usr/share/man/man1/hp-diff.1.gz /usr/share/man/man1/hp-inspect.1.gz \
         /usr/share/man/man8/hp-apply.8.gz /usr/share/man/man7/hotpatch.7.gz; do
  grep -qx -- "$f" "$tmp/files" || fail "the package lacks $f"
done

# Every shared library the tools and plugins name (DT_NEEDED; what those
# load in turn is their packages' business) comes from a declared package.
# The plugin's clang symbols come from clang-19 itself.
dpkg-deb -x "$deb" "$tmp/root"
owner() { # the package of a library: the file it is, or the path ldd gave
  local real; real=$(readlink -f "$1")
  for p in "$real" "${real#/usr}" "$1"; do
    dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1 | grep . && return
  done
  return 0
}
for f in "$tmp"/root/usr/bin/* "$tmp"/root/usr/lib/hotpatch/*.so; do
  readelf -d "$f" | grep -q RPATH && fail "$(basename "$f") keeps a build RPATH"
  for needed in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    lib=$(ldd "$f" | awk -v n="$needed" '$1 == n && $3 ~ /^\// {print $3}')
    [ -n "$lib" ] || { [[ $needed == ld-linux* ]] && continue; fail "$(basename "$f"): $needed not found"; }
    pkg=$(owner "$lib")
    [ -n "$pkg" ] || fail "$(basename "$f") loads $lib, from no package"
    grep -qE "(^|, )${pkg//+/\\+}( |,|$)" <<<"$depends" ||
      fail "$(basename "$f") loads $lib from $pkg, not in Depends"
  done
done
echo "package: every library the files name is from a declared package"

HOTPATCH_BUILD_DIR=$build bash "$here/live.sh" "$tmp/root/usr" "$tmp/work"
echo "PASS package"
