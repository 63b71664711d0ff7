#!/usr/bin/env bash
# The arm64 test bed: boots a Debian arm64 kernel under qemu-system-aarch64
# with an initramfs of static arm64 test programs, runs them, and reports
# their results (docs/arm64-testbed.md).
#
#   scripts/arm64-testbed.sh [--build DIR] [--timeout SECS] [--only PREFIX,...]
#                            [--kernels 4k,16k] [--bench] [--show]
#
# --bench runs the benchmarks of test/arm64/bench instead of the tests (on
# the 4 KiB kernel unless --kernels says otherwise) and prints their output;
# --show prints every test's output, passed or not (scripts/demo.sh --arm64).
#
# Everything comes from Debian's archive: the kernel package
# (linux-image-*-arm64-unsigned) and the arm64 libraries the programs link,
# fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
# DIR/arm64/ (DIR defaults to build/). A second run downloads and rebuilds
# nothing that is already there: it only boots.
#
# Exit status: 0 every guest test passed; 1 one failed (or the guest did not
# finish); 77 the test bed cannot run here (no qemu-system-aarch64 and no way
# to install it): ctest reports that as skipped.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
boot_timeout=600
only=""
kernels=4k,16k
bench=""
show=""
kernels_given=""
while (($#)); do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --timeout) boot_timeout=$2; shift 2 ;;
    --only) only=$2; shift 2 ;; # guest tests whose names start so (e.g. 14-,25-)
    --kernels) kernels=$2; kernels_given=1; shift 2 ;; # 4k, 16k or 4k,16k (page sizes)
    --bench) bench=1; shift ;;
    --show) show=1; shift ;;
    *) echo "arm64-testbed: unknown option $1" >&2; exit 2 ;;
  esac
done
work=$build/arm64
mkdir -p "$work"
[ -n "$bench" ] && [ -z "$kernels_given" ] && kernels=4k
say() { echo "arm64-testbed: $*"; }
die() { echo "arm64-testbed: error: $*" >&2; exit 1; }
skip() { echo "arm64-testbed: SKIP: $*" >&2; exit 77; }
t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

sudo=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo="sudo -n"; fi
apt_locked() { flock /tmp/hp-apt.lock $sudo "$@"; }

# --- Host tools --------------------------------------------------------------
# qemu-system-aarch64 is in Debian's qemu-system-arm. Without it (and no
# right to install it), the test bed cannot run: a skip, never a pass.
qemu=${HP_QEMU:-qemu-system-aarch64} # (another one, or a missing one to test the skip)
if ! command -v "$qemu" >/dev/null; then
  say "installing qemu-system-arm (provides qemu-system-aarch64)"
  if ! { apt_locked apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null 2>&1 ||
         { apt_locked apt-get update -qq >/dev/null 2>&1 &&
           DEBIAN_FRONTEND=noninteractive apt_locked apt-get install -y -qq \
             --no-install-recommends qemu-system-arm >/dev/null 2>&1; }; } ||
     ! command -v "$qemu" >/dev/null; then
    skip "qemu-system-aarch64 is not installed and cannot be (apt-get install qemu-system-arm failed: not root, or no archive)"
  fi
fi
for tool in clang-19 ld.lld python3 dpkg-deb; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/setup.sh installs it)"
done

# --- Debian arm64 packages: the kernel and a sysroot ------------------------
# The sysroot holds what static arm64 programs link: glibc, libgcc,
# libstdc++ (guest tests, C and C++) and what hp-apply links (LLVM's static
# libraries, elfutils, the compression libraries they use).
sysroot_pkgs=(
  libc6 libc6-dev linux-libc-dev libgcc-12-dev libgcc-s1 libstdc++-12-dev libstdc++6
  llvm-19-dev libllvm19 libelf1 libelf-dev libdw1 libdw-dev
  zlib1g zlib1g-dev libzstd1 libzstd-dev liblzma5 liblzma-dev libbz2-1.0 libbz2-dev
)
sysroot=$work/sysroot
stamp=$work/.fetched
want="kernel+${sysroot_pkgs[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "fetching the arm64 kernel and sysroot from Debian's archive"
  if ! dpkg --print-foreign-architectures | grep -qx arm64 ||
     ! apt-cache show libc6:arm64 >/dev/null 2>&1; then
    apt_locked dpkg --add-architecture arm64 || die "cannot add the arm64 architecture (need root)"
    apt_locked apt-get update -qq || die "apt-get update failed"
  fi
  # The kernel: the unsigned image of the version the linux-image-arm64
  # metapackage names (the signed one holds the same Image, signed for UEFI).
  kernel_pkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null |
               awk '/Depends: linux-image-[0-9]/ { sub(/:arm64$/, "", $2); print $2; exit }')
  [ -n "$kernel_pkg" ] || die "no linux-image-arm64 in the apt lists"
  apt-cache show "$kernel_pkg-unsigned:arm64" >/dev/null 2>&1 && kernel_pkg=$kernel_pkg-unsigned
  rm -rf "$work/debs" "$sysroot" "$work/kernel"
  mkdir -p "$work/debs" "$sysroot" "$work/kernel"
  (cd "$work/debs" &&
   apt_locked apt-get download -qq "$kernel_pkg:arm64" "${sysroot_pkgs[@]/%/:arm64}" 2>&1 |
     { grep -v 'unsandboxed as root' || true; }; exit "${PIPESTATUS[0]}") ||
    die "apt-get download failed"
  for deb in "$work"/debs/*.deb; do
    case $(basename "$deb") in
      linux-image-*)
        # Only /boot: the modules (most of the package) are not needed, the
        # drivers the virt machine's console and initramfs use are built in.
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/kernel" ./boot ;;
      *) dpkg-deb -x "$deb" "$sysroot" ;;
    esac
  done
  vmlinuz=$(ls "$work"/kernel/boot/vmlinuz-* | head -1)
  ln -sf "$vmlinuz" "$work/vmlinuz"
  echo "$kernel_pkg" > "$work/kernel-package"
  rm -rf "$work/debs"
  echo "$want" > "$stamp"
  say "fetched $(cat "$work/kernel-package") and ${#sysroot_pkgs[@]} packages in $(elapsed) s"
fi
[ -e "$work/vmlinuz" ] || die "no kernel in $work (remove $stamp to fetch again)"

# The second kernel: 16 KiB pages. Debian 12 has no 64 KiB-page arm64
# flavour; its linux-6.12 (bookworm-security) has arm64-16k, whose page
# size differs from the 4 KiB kernel's as a 64 KiB one would (docs/limits.md).
# Fetched on its own (92 MB), so that the sysroot is not fetched again.
k16=$work/kernel-16k
if [[ ,$kernels, == *,16k,* ]] && [ ! -e "$k16/.fetched" ]; then
  say "fetching the 16 KiB-page arm64 kernel from Debian's archive"
  pkg=$(apt-cache depends linux-image-6.12-arm64-16k:arm64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { sub(/:arm64$/, "", $2); print $2; exit }')
  [ -n "$pkg" ] || die "no linux-image-6.12-arm64-16k in the apt lists"
  apt-cache show "$pkg-unsigned:arm64" >/dev/null 2>&1 && pkg=$pkg-unsigned
  rm -rf "$k16" && mkdir -p "$k16/debs"
  (cd "$k16/debs" && apt_locked apt-get download -qq "$pkg:arm64" 2>&1 |
     { grep -v 'unsandboxed as root' || true; }; exit "${PIPESTATUS[0]}") ||
    die "apt-get download $pkg failed"
  dpkg-deb --fsys-tarfile "$k16"/debs/*.deb | tar -x -C "$k16" ./boot
  rm -rf "$k16/debs"
  ln -sf "$(ls "$k16"/boot/vmlinuz-* | head -1)" "$k16/vmlinuz"
  echo "$pkg" > "$k16/kernel-package"
  touch "$k16/.fetched"
  say "fetched $pkg in $(elapsed) s"
fi

# --- Guest programs -----------------------------------------------------------
# Static arm64 executables: /init runs every program in /tests.
guest_cc=(clang-19 --target=aarch64-linux-gnu "--sysroot=$sysroot" -fuse-ld=lld -static
          -O2 -g0 -Wall)
rootfs=$work/rootfs
mkdir -p "$rootfs/tests" "$rootfs/bin" "$work/obj"
# Compiles SRC into OUT unless OUT is newer than SRC (and this script).
build_guest() {
  local src=$1 out=$2
  if [ ! -e "$out" ] || [ "$src" -nt "$out" ] || [ "$0" -nt "$out" ] ||
     [ -n "$(find "$root/test/arm64/guest" -name '*.h' -newer "$out" -print -quit)" ]; then
    local cc=("${guest_cc[@]}")
    [[ $src == *.cpp ]] && cc=(clang++-19 "${guest_cc[@]:1}")
    "${cc[@]}" "$src" -o "$out" || die "cannot build $src for arm64"
  fi
}
build_guest "$root/test/arm64/guest/init.c" "$rootfs/init"
for src in "$root"/test/arm64/guest/[0-9]*.c "$root"/test/arm64/guest/[0-9]*.cpp; do
  [ -e "$src" ] || continue
  name=$(basename "${src%.*}")
  build_guest "$src" "$rootfs/tests/$name"
done
mkdir -p "$rootfs/bench"
for src in "$root"/test/arm64/bench/*.c; do
  [ -e "$src" ] || continue
  build_guest "$src" "$rootfs/bench/$(basename "${src%.*}")"
done
# A test whose source is gone leaves the guest too.
for prog in "$rootfs"/tests/*; do
  [ -e "$prog" ] || continue
  name=$(basename "$prog")
  [ -e "$root/test/arm64/guest/$name.c" ] || [ -e "$root/test/arm64/guest/$name.cpp" ] ||
    rm -f "$prog"
done
# Scenario steps (test/arm64/scenarios/*.sh) add what they build on the
# host: the plugin-built targets, their patches, hp-apply.
for scenario in "$root"/test/arm64/scenarios/*.sh; do
  [ -e "$scenario" ] || continue
  ROOT=$root BUILD=$build WORK=$work SYSROOT=$sysroot ROOTFS=$rootfs \
    bash "$scenario" || die "scenario $(basename "$scenario") failed to build"
done

# --- Initramfs ----------------------------------------------------------------
initrd=$work/initramfs.cpio
if [ ! -e "$initrd" ] || [ -n "$(find "$rootfs" -newer "$initrd" -print -quit)" ] ||
   [ "$root/test/arm64/mkinitramfs.py" -nt "$initrd" ]; then
  python3 "$root/test/arm64/mkinitramfs.py" "$rootfs" "$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
fi
say "ready in $(elapsed) s: $(cat "$work/kernel-package"), initramfs $(( $(stat -c %s "$initrd") / 1024 )) KiB"

# --- Boot and report, once per kernel -----------------------------------------
# Single-threaded TCG (docs/arm64-testbed.md: multi-threaded TCG in QEMU 7.2
# may miss text written through /proc/PID/mem while the guest runs).
# boot NAME VMLINUZ PAGE LOG: runs the guest tests on that kernel, prints
# their results; returns 1 when one failed, the guest did not finish, or
# its page size is not PAGE.
boot() {
  local name=$1 kernel=$2 page=$3 log=$4 boot_start boot_end qemu_status
  boot_start=$(date +%s.%N)
  set +e
  timeout "$boot_timeout" "$qemu" -M virt -cpu max,pauth-impdef=on -smp 2 -m 1G \
    -accel tcg,thread=single -kernel "$kernel" -initrd "$initrd" \
    -nographic -nic none -no-reboot \
    -append "console=ttyAMA0 panic=-1 quiet${only:+ hp_test_only=$only}${bench:+ hp_bench=1 hp_test_timeout=900}" </dev/null >"$log" 2>&1
  qemu_status=$?
  set -e
  boot_end=$(date +%s.%N)
  tr -d '\r' <"$log" >"$log.txt" && mv "$log.txt" "$log"
  say "kernel $name: $(cat "$(dirname "$kernel")/kernel-package")"
  { grep -E '^HP-TEST ' "$log" || true; } | while read -r _ test result ms why; do
    printf '  %-4s %-40s %6s ms %s\n' "$result" "$test" "$ms" "$why"
  done
  local guest_s done_line passed failed boot_s got_page
  guest_s=$(awk -v a="$boot_start" -v b="$boot_end" 'BEGIN { printf "%.1f", b - a }')
  done_line=$(grep -E '^HP-DONE ' "$log" | tail -1 || true)
  if [ -z "$done_line" ]; then
    tail -40 "$log" >&2
    echo "arm64-testbed: error: the guest ($name) did not finish (qemu status $qemu_status after $guest_s s; console: $log)" >&2
    return 1
  fi
  read -r _ passed failed <<<"$done_line"
  boot_s=$(awk '/^HP-INIT/ { for (i = 1; i < NF; ++i) if ($i == "uptime") print $(i + 1) }' "$log")
  got_page=$(awk '/^HP-INIT/ { for (i = 1; i < NF; ++i) if ($i == "page") print $(i + 1) }' "$log")
  say "guest ($name, page $got_page): $passed passed, $failed failed; kernel booted in ${boot_s:-?} s, qemu ran $guest_s s (console: $log)"
  if [ -n "$bench$show" ]; then
    grep -E '^HP-START ' "$log" | while read -r _ test; do
      echo "--- $test ($name)"
      awk -v n="$test" '$0 == "HP-START " n { on = 1; next } on && /^HP-TEST / { exit } on' "$log"
    done
  fi
  if [ "$got_page" != "$page" ]; then
    echo "arm64-testbed: error: the $name kernel ran with $got_page-byte pages, not $page" >&2
    return 1
  fi
  if [ "$failed" != 0 ]; then
    # Each failed test's own output, for the CI log.
    grep -E '^HP-TEST .* FAIL' "$log" | while read -r _ test _; do
      echo "--- $test ($name)" >&2
      awk -v n="$test" '$0 == "HP-START " n { on = 1; next } on && /^HP-TEST / { exit } on' "$log" >&2
    done
    return 1
  fi
}

status=0
[[ ,$kernels, == *,4k,* ]] && { boot 4k "$work/vmlinuz" 4096 "$work/console.log" || status=1; }
[[ ,$kernels, == *,16k,* ]] && { boot 16k "$k16/vmlinuz" 16384 "$work/console-16k.log" || status=1; }
say "whole run $(elapsed) s"
exit $status
