#!/usr/bin/env bash
# ctest "install": cmake --install into a throwaway prefix, then move the
# whole tree elsewhere (an install must not care where it lies), and run the
# installed tools on a live program there (live.sh).
#   install.sh BUILD-DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hotpatch-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/first" >"$tmp/install.log"
mv "$tmp/first" "$tmp/moved"
HOTPATCH_BUILD_DIR=$build bash "$here/live.sh" "$tmp/moved" "$tmp/work"
echo "PASS install"
