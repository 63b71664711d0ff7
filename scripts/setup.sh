#!/usr/bin/env bash
# Installs what hotpatch needs from Debian 12's archive (when something is
# missing) and builds it into build/. Sourced-free: run it, or let demo.sh and
# test.sh run it first.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  clang-19 llvm-19-dev libclang-19-dev lld-19 llvm-19-tools  # compiler, LLVM, lit/FileCheck
  libelf-dev libdw-dev                                       # ELF and the unwinder (runtime)
  libssl-dev openssl                                         # signed patches (Ed25519); keys in tests
  libgtest-dev libclang-rt-19-dev cmake ninja-build python3  # build, tests, libFuzzer
  binutils gcc libc6-dev libstdc++-12-dev file               # GNU ld/strip, -static, C++, gcc for a test
  gdb libunwind-dev libunwind-14                              # tests: gdb, both libunwinds walk through patch frames
  binutils-aarch64-linux-gnu                                 # tests: the patch area links with GNU ld for arm64
  ccache patch                                               # tests: hp-build through ccache; hp-build applies fixes
  pandoc                                                     # the man pages, made from docs/
)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup: error: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 >/dev/null
fi
echo "setup: building hotpatch"
cmake --build build
