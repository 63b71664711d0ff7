#!/usr/bin/env bash
# The reach of hp-diff on real C++: of every function a project defines,
# the share hp-diff would patch if its body changed (issue 12, item 6).
#
# The project is yaml-cpp 0.7.0 as Debian 12 ships it (exceptions,
# std::string, std::map and std::vector, shared_ptr, templates in headers;
# Debian's patches applied, so -fvisibility=hidden as Debian builds it),
# fetched with apt-get source. Every translation unit of the library
# (src/*.cpp, src/contrib/*.cpp) is built with clang-19 -O2 -g and the
# plugin, with its CMakeLists' definitions for a shared library.
#
# Each function body the project writes (in its .cpp files and its own
# headers, found with libclang: bench/cxx-reach/sites.py) is a site. The
# sources are copied with a marker HP_REACH_AT(ID) put right after each
# body's '{' on the same line, so line numbers stay as shipped; it expands
# to `if (ID == HP_REACH) asm volatile("");`, which clang drops when false.
# The old build is every TU with -DHP_REACH=0: the project's own code (the
# script checks that hp-diff finds nothing to patch between it and the
# unmarked sources). For each site, the TU holding most of its code (by
# the old objects' line tables: its .cpp, or for a header function the TU
# where it is compiled or inlined most) is built again with -DHP_REACH=ID
# and hp-diff runs on the old and new object: patched, refused (grouped by
# the refusal's words, names taken out), or nothing to patch. A site whose
# lines are in no object's line table has no code in the build (a template
# never instantiated, an inline function nothing uses) and is counted
# apart. The reach before unwind tables is computed from the tables: a
# patch replacing any function flagged landing-pads was refused then.
#
# Not run in CI: ~30 min from scratch on 2 busy cores (one compile per site,
# ~2.4 s each at two at a time); ~20 s once every result is cached.
#
# Usage: bench/cxx-reach.sh
# Environment:
#   HOTPATCH_PLUGIN  the plugin (default build/lib/hotpatch.so)
#   HP_DIFF, HP_INSPECT  the tools (default build/bin/...); all three are
#                    copied into the cache first, named by their hash, so a
#                    rebuild during the run is harmless
#   OPT="-O2"        the optimisation flags of every build
#   JOBS=2           compiles at once
#   LIMIT=N          measure at most N sites not measured yet, in a random
#                    order (a quick look); -1: only print what is measured
#   BENCH_CACHE      sources, objects, results (default bench/.cache/cxx-reach);
#                    a site's result is kept while tools and flags are the same
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache=${BENCH_CACHE:-$repo/bench/.cache/cxx-reach}
plugin_in=${HOTPATCH_PLUGIN:-$repo/build/lib/hotpatch.so}
hpdiff_in=${HP_DIFF:-$repo/build/bin/hp-diff}
hpinspect_in=${HP_INSPECT:-$repo/build/bin/hp-inspect}
opt=${OPT:--O2}
njobs=${JOBS:-2}
CXX=clang++-19
PY=/usr/bin/python3 # Debian's, which python3-clang-19 installs into
pkg=yaml-cpp
version=0.7.0+dfsg-8

exec 3>&2
log() { echo "cxx-reach: $*" >&3; }
die() { log "error: $*"; exit 1; }
t_start=$SECONDS
mkdir -p "$cache"/{src,tools}
command -v "$CXX" >/dev/null || die "needs $CXX"
test -f "$plugin_in" || die "no plugin at $plugin_in (build it, or set HOTPATCH_PLUGIN)"
test -x "$hpdiff_in" || die "no hp-diff at $hpdiff_in (build it, or set HP_DIFF)"
test -x "$hpinspect_in" || die "no hp-inspect at $hpinspect_in (build it, or set HP_INSPECT)"

# apt_prepare, need
source bench/debian-sources.sh
need 'command -v dpkg-source' dpkg-dev
need "$PY -c 'import clang.cindex'" python3-clang-19
need 'command -v llvm-dwarfdump-19' llvm-19
need 'command -v c++filt' binutils

plugin=$(copy_tool "$plugin_in" hotpatch.so)
hpdiff=$(copy_tool "$hpdiff_in" hp-diff)
hpinspect=$(copy_tool "$hpinspect_in" hp-inspect)

# ---------------------------------------------------------------- sources

dsc=$cache/src/${pkg}_${version#*:}.dsc
if [[ ! -f $dsc ]]; then
  apt_prepare
  log "fetching Debian source package $pkg $version"
  (cd "$cache/src" && apt-get source --download-only "$pkg=$version") >"$cache/src.log" 2>&1 \
    || { tail -5 "$cache/src.log" >&2; die "apt-get source $pkg=$version failed"; }
fi
tree=$cache/tree    # as shipped, Debian's patches applied
inst=$cache/inst    # the same with a marker in every body
if [[ ! -f $tree/.unpacked ]]; then
  rm -rf "$tree"
  dpkg-source --no-check -x "$dsc" "$tree" >"$cache/unpack.log" 2>&1 \
    || { tail -5 "$cache/unpack.log" >&2; die "dpkg-source -x $dsc failed"; }
  touch "$tree/.unpacked"
  rm -rf "$inst"
fi
tus=()
for f in "$tree"/src/*.cpp "$tree"/src/contrib/*.cpp; do tus+=("${f#"$tree"/}"); done

# yaml-cpp's CMakeLists for the shared library on Linux (with Debian's
# symbol-visibility patch), less its warnings.
defs=(-std=c++11 -fPIC -fvisibility=hidden -DYAML_CPP_USE_VISIBILITY -Dyaml_cpp_EXPORTS)
if [[ ! -f $cache/sites.json || ! -f $inst/.marked ]]; then
  log "finding the function bodies of ${#tus[@]} translation units (libclang)"
  (cd "$tree" && "$PY" "$repo/bench/cxx-reach/sites.py" "$tree" "$inst" "$cache/sites.json" \
     -- -x c++ "${defs[@]}" -I"$tree/include" -I"$tree/src" -- "${tus[@]}") >&3
  touch "$inst/.marked"
fi

# ---------------------------------------------------------------- builds

# The marker: nothing unless this is the site the build was asked for. The
# file prefix map makes __FILE__ (assert) and the debug info name the same
# path in the marked and unmarked trees.
marker='HP_REACH_AT(k)=if ((k) == HP_REACH) __asm__ volatile("");'
# shellcheck disable=SC2206 # OPT is words
flags_for() { # TREE
  local f=($opt -g "${defs[@]}" -I"$1/include" -I"$1/src" "-D$marker"
    -ffile-prefix-map="$1"=/yaml-cpp -fplugin="$plugin")
  printf '%s\n' "${f[@]}"
}
mapfile -t inst_flags < <(flags_for "$inst")
mapfile -t tree_flags < <(flags_for "$tree")
key=$(printf '%s\n' "${inst_flags[@]}" "$(basename "$plugin")" | sha256sum | cut -c1-12)
obj=$cache/obj-$key
obj_name() { local n=${1%.cpp}; echo "${n//\//_}.o"; }

build_all() { # SRC-TREE OUT-DIR FLAGS...
  local src=$1 out=$2 u
  shift 2
  [[ -f $out/.done ]] && return
  rm -rf "$out" && mkdir -p "$out"
  for u in "${tus[@]}"; do
    while (($(jobs -rp | wc -l) >= njobs)); do wait -n || true; done
    { "$CXX" "$@" -DHP_REACH=0 -c "$src/$u" -o "$out/$(obj_name "$u")" \
        2>>"$out/build.log" || touch "$out/FAILED"; } &
  done
  wait
  [[ ! -e $out/FAILED ]] || die "a build failed: $(grep -m1 error "$out/build.log") ($out/build.log)"
  touch "$out/.done"
}
log "building $pkg's ${#tus[@]} TUs with the plugin, marked and unmarked"
t0=$SECONDS
build_all "$inst" "$obj/old" "${inst_flags[@]}"
build_all "$tree" "$obj/plain" "${tree_flags[@]}"
log "built in $((SECONDS - t0)) s"
# The library as Debian ships it: every patch is made against it
# (--target), as a user would, so the symbols a patch needs (hidden ones
# made local by the linker too) are looked up in it.
lib=$obj/libyaml-cpp.so.0.7
if [[ ! -f $lib ]]; then
  "$CXX" -shared -Wl,-soname,libyaml-cpp.so.0.7 -o "$lib.tmp" "$obj"/old/*.o \
    || die "linking $lib failed"
  mv "$lib.tmp" "$lib"
fi

# The markers must change nothing: hp-diff between the unmarked and the
# marked build finds nothing to patch.
pairs=()
for u in "${tus[@]}"; do pairs+=("$obj/plain/$(obj_name "$u")" "$obj/old/$(obj_name "$u")"); done
"$hpdiff" "${pairs[@]}" -o "$obj/markers.hp" >"$obj/markers.log" 2>&1 \
  || { cat "$obj/markers.log" >&2; die "hp-diff on the marked build against the unmarked one failed"; }
grep -q '^hp-diff: nothing to patch' "$obj/markers.log" \
  || { cat "$obj/markers.log" >&2; die "the markers changed the code"; }
log "the marked build has the same code as the unmarked one"

# ---------------------------------------------------------------- measure

results=$obj/results-$(basename "$hpdiff" | cut -d- -f3)
"$PY" -c '
import json, sys
keys = ["project", "inst", "old", "sites", "results", "jobs", "limit", "hp_diff",
        "hp_inspect", "dwarfdump", "cxxfilt", "debug_root", "target"]
cfg = dict(zip(keys, sys.argv[2:2 + len(keys)]))
cfg["cxx"] = [sys.argv[2 + len(keys)]]
cfg["flags"] = sys.argv[3 + len(keys):]
json.dump(cfg, open(sys.argv[1], "w"), indent=1)
' "$cache/config.json" "$pkg $version (Debian 12), ${#tus[@]} TUs, clang-19 $opt" \
  "$inst" "$obj/old" "$cache/sites.json" "$results" "$njobs" "${LIMIT:-0}" "$hpdiff" \
  "$hpinspect" llvm-dwarfdump-19 c++filt /yaml-cpp "$lib" "$CXX" "${inst_flags[@]}"
"$PY" "$repo/bench/cxx-reach/reach.py" "$cache/config.json" | tee "$obj/report.txt"
log "report in $obj/report.txt; $((SECONDS - t_start)) s in all"
