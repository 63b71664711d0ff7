#!/usr/bin/env bash
# How many functions real upstream fixes put into a live patch, with
# hotpatch's interprocedural discipline (the default) and with
# -fplugin-arg-hotpatch-ipo=full.
#
# The discipline keeps callers independent of a patchable callee's body
# except through inlining (docs/building.md). Without it a fix may pull in
# callers that relied on what LLVM learned from the fixed body: more
# functions in the patch, some of them loops that never return. This
# measures that on fixes Debian ships as patches in its source packages:
#   lua5.4   5.4.4-3+deb12u1       (CVE fixes)
#   sqlite3  3.40.1-2+deb12u2      (CVE and bug fixes), built two ways:
#              per-file     one object per source file, as Debian builds
#                           libsqlite3 (configure --disable-amalgamation)
#              amalgamation the single sqlite3.c most embedders ship
#   expat    2.5.0-1+deb12u2       (CVE fixes)
# For each fix the source tree is unpacked as shipped in one fixed
# directory; the "old" tree is that tree with the fix reverse-applied
# (patch -R, restricted to the files that are compiled), the "new" tree is
# the tree as shipped. A fix that does not reverse-apply on the shipped tree
# (a later patch of the series overlaps it) is measured in series order
# instead: old = the series before it, new = the series up to it. Old and
# new are built in the same directory with identical flags (so __FILE__
# strings agree), each with the default plugin and with ipo=full; only the
# objects whose preprocessed source differs are compiled (the others would
# be identical). Then hp-diff runs on those object pairs:
#   default, ipo=full, and default with --include-line-number-changes
# and the script prints, per fix, the replaced / new / left-out-as-line-
# numbers-only counts, refusals (the first error line), and below the table
# the reason hp-diff gives for every function under both settings.
#
# Usage: bench/ipo-fix-reach.sh [FILTER...]   only the fixes whose package
#                                             or patch name contains a FILTER
# Environment:
#   HOTPATCH_PLUGIN  the plugin (default build/lib/hotpatch.so)
#   HP_DIFF          hp-diff (default build/bin/hp-diff); both are copied into
#                    the cache first, so a rebuild during the run is harmless
#   OPT="-O2"        the optimisation flags of every build
#   JOBS=2           compiler processes at once
#   BENCH_CACHE      trees, objects, results (default bench/.cache/ipo-fix-reach)
# Source packages already downloaded by bench/ipo-cost.sh (its cache) are
# reused; others are fetched with apt-get source, which needs root and
# deb-src (enabled here if missing). Objects are cached per fix, keyed by
# plugin, flags and patch; hp-diff always runs afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache=${BENCH_CACHE:-$repo/bench/.cache/ipo-fix-reach}
ipo_cost_src=$repo/bench/.cache/ipo-cost/src
plugin_in=${HOTPATCH_PLUGIN:-$repo/build/lib/hotpatch.so}
hpdiff_in=${HP_DIFF:-$repo/build/bin/hp-diff}
opt=${OPT:--O2}
njobs=${JOBS:-2}
CC=clang-19
filters=("$@")

exec 3>&2 # progress goes to the run's stderr, even from steps whose output goes to a log
log() { echo "ipo-fix-reach: $*" >&3; }
die() { log "error: $*"; exit 1; }
command -v "$CC" >/dev/null || die "needs $CC"
command -v python3 >/dev/null || die "needs python3"
test -f "$plugin_in" || die "no plugin at $plugin_in (build it, or set HOTPATCH_PLUGIN)"
test -x "$hpdiff_in" || die "no hp-diff at $hpdiff_in (build it, or set HP_DIFF)"
mkdir -p "$cache"/{src,tree,obj,out,tools}
t_start=$SECONDS

# ---------------------------------------------------------------- the fixes

# PACKAGE|VERSION|PATCH (in debian/patches)|LABEL|WHAT IT FIXES
fixes=(
  "lua5.4|5.4.4-3+deb12u1|0004-cve-2022-28805.patch|CVE-2022-28805|heap overflow: wrong code when _ENV is <const> (lparser.c)"
  "lua5.4|5.4.4-3+deb12u1|0005-cve-2022-33099.patch|CVE-2022-33099|Lua-stack overflow when the C stack overflows while handling an error"
  "sqlite3|3.40.1-2+deb12u2|0001-Fix-a-buffer-overread-in-the-sessions-extension-that.patch|CVE-2023-7104|session extension: buffer overread on a corrupt changeset"
  "sqlite3|3.40.1-2+deb12u2|0002-Avoid-a-stack-overflow-that-could-be-caused-by-a-rec.patch|window-recursion|stack overflow from a recursively defined WINDOW() with an embedded error"
  "sqlite3|3.40.1-2+deb12u2|0003-Fix-a-technically-undefined-signed-integer-overflow-.patch|fts5-overflow|undefined signed integer overflow in fts5"
  "sqlite3|3.40.1-2+deb12u2|41-fix_a_bug_in_the_NOT_NULL-IS_NULL_optimization.patch|notnull-opt|NOT NULL/IS NULL optimisation can give invalid data"
  "sqlite3|3.40.1-2+deb12u2|42-CVE-2025-6965.patch|CVE-2025-6965|aggregate terms may exceed the number of columns (struct AggInfo widened)"
  "expat|2.5.0-1+deb12u2|CVE-2024-45490.patch|CVE-2024-45490|XML_ParseBuffer: reject a negative length"
  "expat|2.5.0-1+deb12u2|CVE-2024-45491.patch|CVE-2024-45491|dtdCopy: integer overflow"
  "expat|2.5.0-1+deb12u2|CVE-2024-45492.patch|CVE-2024-45492|nextScaffoldPart: integer overflow"
  "expat|2.5.0-1+deb12u2|expat-2.5.0-CVE-2023-52425.patch|CVE-2023-52425|denial of service with big tokens (reparse deferral, new API)"
  "expat|2.5.0-1+deb12u2|expat-2.5.0-CVE-2024-50602.patch|CVE-2024-50602|XML_ResumeParser crash: XML_StopParser on an unstarted parser"
  "expat|2.5.0-1+deb12u2|expat-2.5.0-CVE-2024-8176.patch|CVE-2024-8176|stack overflow on long chains of entities (recursion made iterative)"
)

# ---------------------------------------------------------------- the packages

# What is compiled of each package: the source paths (after -p1) a fix must
# touch to matter, the flavours (object sets diffed separately), and for
# each flavour its units and flags (Debian's, as in bench/ipo-cost.sh).
declare -A compiled_re flavours flags
compiled_re[lua5.4]='^src/.*\.[ch]$'
flavours[lua5.4]="lib"
flags[lua5.4/lib]="-DLUA_COMPAT_5_3 -DLUA_USE_LINUX"
units_lua5.4_lib() { for f in "$tree"/src/*.c; do [[ $f == */luac.c ]] || echo "$f"; done; }
prepare_lua5.4() {
  # Debian's build writes this header (debian/rules); luaconf.h includes it.
  printf '#ifndef _LUA_DEB_MULTIARCH_\n#define _LUA_DEB_MULTIARCH_\n#define DEB_HOST_MULTIARCH "%s"\n#endif\n' \
    "x86_64-linux-gnu" >src/lua5.4-deb-multiarch.h
}

compiled_re[sqlite3]='^(src|ext)/.*\.[chy]$'
flavours[sqlite3]="per-file amalgamation"
# debian/rules' CFLAGS, and what its configure (--enable-fts4 --enable-fts5
# --enable-threadsafe) adds on glibc.
sqlite_flags="-fno-strict-aliasing -DSQLITE_SECURE_DELETE -DSQLITE_ENABLE_COLUMN_METADATA
  -DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_RTREE=1 -DSQLITE_SOUNDEX=1
  -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_OMIT_LOOKASIDE=1 -DSQLITE_ENABLE_DBSTAT_VTAB
  -DSQLITE_ALLOW_ROWID_IN_VIEW -DSQLITE_ENABLE_UPDATE_DELETE_LIMIT=1 -DSQLITE_ENABLE_LOAD_EXTENSION
  -DSQLITE_ENABLE_JSON1 -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_THREADSAFE=1
  -DSQLITE_ENABLE_FTS3_TOKENIZER=1 -DSQLITE_USE_URI=1 -DSQLITE_MAX_SCHEMA_RETRY=25
  -DSQLITE_ENABLE_PREUPDATE_HOOK -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_STMTVTAB
  -DSQLITE_MAX_VARIABLE_NUMBER=250000 -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_FTS5 -DSQLITE_TEMP_STORE=1
  -D_REENTRANT=1 -DHAVE_USLEEP=1 -DHAVE_FDATASYNC=1 -DHAVE_LOCALTIME_R=1 -DHAVE_GMTIME_R=1
  -DHAVE_POSIX_FALLOCATE=1 -DHAVE_STRERROR_R=1"
flags[sqlite3/per-file]="$sqlite_flags -DSQLITE_CORE -I\$tree/bld/tsrc"
flags[sqlite3/amalgamation]="$sqlite_flags -I\$tree/bld"
# The library's objects, as Makefile.in lists them (LIBOBJS0), from the
# copies of the sources (and the generated ones) in bld/tsrc.
units_sqlite3_per-file() {
  sed -n '/^LIBOBJS0 *=/,/^$/p' "$tree/Makefile.in" | tr -s ' \t\\=' '\n' | sed -n 's/\.lo$//p' |
    while read -r n; do echo "$tree/bld/tsrc/$n.c"; done
}
units_sqlite3_amalgamation() { echo "$tree/bld/sqlite3.c"; }
prepare_sqlite3() {
  # Generated sources (parse.c, opcodes.h, keywordhash.h, sqlite3.h, fts5.c,
  # the amalgamation) with SQLite's own makefile and tclsh, no configure run.
  rm -rf bld && mkdir bld && cd bld
  make -f ../main.mk TOP="$PWD/.." BCC="$CC" TCC="$CC" NAWK=awk AR="ar cr" \
    TCLSH_CMD=tclsh THREADLIB="-lpthread -lm" target_source sqlite3.c
}

compiled_re[expat]='^expat/lib/.*\.[ch]$'
flavours[expat]="lib"
flags[expat/lib]="-I\$tree/expat"
units_expat_lib() { echo "$tree"/expat/lib/{xmlparse,xmlrole,xmltok}.c; }
prepare_expat() {
  # What Debian's configure finds on glibc (expat_config.h.cmake's names).
  cat >expat/expat_config.h <<'EOF'
#ifndef EXPAT_CONFIG_H
#define EXPAT_CONFIG_H 1
#define BYTEORDER 1234
#define HAVE_DLFCN_H 1
#define HAVE_FCNTL_H 1
#define HAVE_GETPAGESIZE 1
#define HAVE_GETRANDOM 1
#define HAVE_INTTYPES_H 1
#define HAVE_MMAP 1
#define HAVE_STDINT_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRINGS_H 1
#define HAVE_STRING_H 1
#define HAVE_SYSCALL_GETRANDOM 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_UNISTD_H 1
#define PACKAGE "expat"
#define PACKAGE_BUGREPORT "expat-bugs@libexpat.org"
#define PACKAGE_NAME "expat"
#define PACKAGE_STRING "expat 2.5.0"
#define PACKAGE_TARNAME "expat"
#define PACKAGE_URL ""
#define PACKAGE_VERSION "2.5.0"
#define STDC_HEADERS 1
#define XML_CONTEXT_BYTES 1024
#define XML_DEV_URANDOM 1
#define XML_DTD 1
#define XML_NS 1
#endif
EOF
}

# ---------------------------------------------------------------- sources

# apt_prepare, need
source bench/debian-sources.sh # (the script runs from the repository root)
need 'command -v dpkg-source' dpkg-dev
need 'command -v patch' patch
need 'command -v tclsh' tcl

# dsc NAME VERSION: the .dsc of that exact version (the patches named above
# are those of that version), from bench/ipo-cost.sh's cache or fetched.
declare -A dsc_of
dsc() {
  local name=$1 version=$2 d f
  for d in "$ipo_cost_src/dl-$name" "$cache/src/dl-$name"; do
    f=$d/${name}_${version#*:}.dsc
    [[ -f $f ]] && { dsc_of[$name]=$f; return; }
  done
  apt_prepare
  log "fetching Debian source package $name $version"
  d=$cache/src/dl-$name
  mkdir -p "$d"
  (cd "$d" && apt-get source --download-only "$name=$version") >"$d.log" 2>&1 \
    || { tail -5 "$d.log" >&2; die "apt-get source $name=$version failed"; }
  f=$d/${name}_${version#*:}.dsc
  [[ -f $f ]] || die "apt-get source $name=$version left no $f"
  dsc_of[$name]=$f
}

plugin=$(copy_tool "$plugin_in" hotpatch.so)
hpdiff=$(copy_tool "$hpdiff_in" hp-diff)
declare -A setting_flags=(
  [default]="-fplugin=$plugin"
  [full]="-fplugin=$plugin -fplugin-arg-hotpatch-ipo=full"
)
settings=(default full)

# ---------------------------------------------------------------- tree states

# filter_patch REGEX PATCH: the parts of PATCH (-p1) for files whose path
# matches REGEX (the compiled sources); documentation and tests are left out.
filter_patch() {
  python3 - "$1" "$2" <<'EOF'
import re, sys
keep_re = re.compile(sys.argv[1])
lines = open(sys.argv[2], 'rb').read().split(b'\n')
out, i = [], 0
def strip1(p):
    p = p.split(b'\t')[0].strip()
    return p.split(b'/', 1)[1] if b'/' in p else p
while i < len(lines):
    if lines[i].startswith(b'--- ') and i + 1 < len(lines) and lines[i + 1].startswith(b'+++ '):
        path = strip1(lines[i + 1][4:])
        if path == b'dev/null':
            path = strip1(lines[i][4:])
        keep = keep_re.search(path.decode('utf-8', 'replace')) is not None
        if keep:
            out += lines[i:i + 2]
        i += 2
        while i < len(lines) and lines[i].startswith(b'@@'):
            m = re.match(rb'@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@', lines[i])
            old = int(m.group(1) if m.group(1) is not None else 1)
            new = int(m.group(2) if m.group(2) is not None else 1)
            j = i + 1
            while (old > 0 or new > 0) and j < len(lines):
                c = lines[j][:1]
                if c == b' ' or lines[j] == b'':
                    old -= 1; new -= 1
                elif c == b'-':
                    old -= 1
                elif c == b'+':
                    new -= 1
                j += 1
            while j < len(lines) and lines[j].startswith(b'\\'):
                j += 1
            if keep:
                out += lines[i:j]
            i = j
    else:
        i += 1
sys.stdout.buffer.write(b'\n'.join(out) + (b'\n' if out else b''))
EOF
}
touched_files() { sed -n 's/^+++ [^/]*\/\([^[:space:]]*\).*/\1/p' "$1" | sort -u; }

# unpack NAME [--skip-patches]: $tree becomes NAME's source tree as shipped
# (or without any of its patches).
unpack() {
  rm -rf "$tree"
  dpkg-source --no-check ${2:-} -x "${dsc_of[$1]}" "$tree" >"$cache/unpack.log" 2>&1 \
    || { tail -5 "$cache/unpack.log" >&2; die "dpkg-source -x ${dsc_of[$1]} failed"; }
}

# prepare NAME: the generated files of the tree's current state.
prepare() {
  (cd "$tree" && "prepare_$1") >"$work/prepare.log" 2>&1 \
    || { tail -5 "$work/prepare.log" >&2; die "preparing $1 failed ($work/prepare.log)"; }
}

# unit_flags NAME FLAVOUR: that flavour's flags, $tree substituted.
unit_flags() { local f=${flags[$1/$2]}; echo "${f//\$tree/$tree}"; }

# hash_units NAME OUT: "FLAVOUR UNIT HASH" of the preprocessed text of every
# unit (what the compiler sees: equal text, equal object).
hash_units() {
  local fl u h
  for fl in ${flavours[$1]}; do
    for u in $("units_$1_$fl"); do
      # shellcheck disable=SC2046 # the flags are words
      h=$("$CC" $opt $(unit_flags "$1" "$fl") -E "$u" 2>>"$work/hash.log" | sha256sum | cut -c1-32) \
        || die "preprocessing $u failed ($work/hash.log)"
      echo "$fl $u $h"
    done
  done >"$2"
}

# compile_changed NAME STATE: every changed unit, in both settings, into
# $work/STATE/SETTING/FLAVOUR/; a failure leaves $work/FAILED.
compile_changed() {
  local fl u s d
  while read -r fl u; do
    for s in "${settings[@]}"; do
      d=$work/$2/$s/$fl
      mkdir -p "$d"
      while (($(jobs -rp | wc -l) >= njobs)); do wait -n || true; done
      # shellcheck disable=SC2046
      { "$CC" $opt ${setting_flags[$s]} $(unit_flags "$1" "$fl") -c "$u" \
          -o "$d/$(basename "${u%.c}").o" 2>>"$work/build-$2.log" || touch "$work/FAILED"; } &
    done
  done <"$work/changed"
  wait
  [[ ! -e $work/FAILED ]] || die "a build failed: $(grep -m1 error "$work/build-$2.log") ($work/build-$2.log)"
}

# build_fix NAME PATCH: the old and new objects of one fix, in $work.
build_fix() {
  local name=$1 patch=$2 fix=$work/fix.diff mode=reverse
  unpack "$name"
  filter_patch "${compiled_re[$name]}" "$tree/debian/patches/$patch" >"$fix"
  touched_files "$fix" >"$work/touched"
  if [[ ! -s $fix ]]; then
    echo none >"$work/mode"
    : >"$work/changed"
    return
  fi
  if ! patch -R -p1 --dry-run --batch -s -d "$tree" <"$fix" >"$work/patch.log" 2>&1; then
    # A later patch of the series overlaps this one: measure it in series order.
    mode=series
    log "  $patch does not reverse-apply on the shipped tree ($(head -1 "$work/patch.log")); measuring it in series order"
    unpack "$name" --skip-patches
    local p
    while read -r p _; do
      [[ -z $p || $p == \#* ]] && continue
      [[ $p == "$patch" ]] && break
      patch -p1 --batch -s -d "$tree" <"$tree/debian/patches/$p" >>"$work/patch.log" 2>&1 \
        || die "patch $p does not apply in series order ($work/patch.log)"
    done <"$tree/debian/patches/series"
    patch -p1 --batch -s -d "$tree" <"$fix" >>"$work/patch.log" 2>&1 || die "$patch does not apply ($work/patch.log)"
  fi
  echo "$mode" >"$work/mode"
  # The tree is new: note what every unit looks like; then old.
  prepare "$name"
  hash_units "$name" "$work/hash-new"
  patch -R -p1 --batch -s -d "$tree" <"$fix" >>"$work/patch.log" 2>&1 || die "reverse-applying $patch failed"
  prepare "$name"
  hash_units "$name" "$work/hash-old"
  # The units whose preprocessed text differs.
  join -a1 -a2 -e - -o 0,1.2,2.2 <(awk '{ print $1 "|" $2, $3 }' "$work/hash-old" | sort) \
                                 <(awk '{ print $1 "|" $2, $3 }' "$work/hash-new" | sort) >"$work/hashes"
  ! grep -q ' -' "$work/hashes" || die "$patch adds or removes a compiled file; not handled"
  awk '$2 != $3 { split($1, a, "|"); print a[1], a[2] }' "$work/hashes" >"$work/changed"
  log "  old tree ($mode): compiling $(wc -l <"$work/changed") changed unit(s) twice: $(awk '{ n = $2; sub(".*/", "", n); if (NR <= 6) printf "%s%s/%s", s, $1, n; s = " " } END { if (NR > 6) printf " ..." }' "$work/changed")"
  compile_changed "$name" old
  patch -p1 --batch -s -d "$tree" <"$fix" >>"$work/patch.log" 2>&1 || die "re-applying $patch failed"
  prepare "$name"
  hash_units "$name" "$work/hash-check"
  cmp -s "$work/hash-new" "$work/hash-check" || die "the tree is not the same after reverse- and re-applying $patch"
  log "  new tree: compiling them again"
  compile_changed "$name" new
}

# ---------------------------------------------------------------- hp-diff

# run_hpdiff OUT SETTING FLAVOUR [OPTIONS]: hp-diff on the changed units'
# object pairs; OUT.out (stdout), OUT.err (stderr), OUT.rc.
run_hpdiff() {
  local out=$1 s=$2 fl=$3 pairs=() f u n rc
  shift 3
  while read -r f u; do
    [[ $f == "$fl" ]] || continue
    n=$(basename "${u%.c}")
    pairs+=("$work/old/$s/$fl/$n.o" "$work/new/$s/$fl/$n.o")
  done <"$work/changed"
  if ((${#pairs[@]} == 0)); then
    echo "no object changed" >"$out.out"
    : >"$out.err"
    echo 0 >"$out.rc"
    return
  fi
  rc=0
  "$hpdiff" "$@" "${pairs[@]}" -o "$out.hp" >"$out.out" 2>"$out.err" || rc=$?
  echo "$rc" >"$out.rc"
}

# summary OUT: "REPLACED NEW LEFT-OUT REFUSAL" of one hp-diff run (counts
# from its lists; REFUSAL is "-" or "refused").
summary() {
  local rc
  rc=$(cat "$1.rc")
  if [[ $rc != 0 ]]; then echo "- - - refused"; return; fi
  awk '
    function count(s) { return s == "" ? 0 : split(s, _, ", ") }
    # The list of "N WHAT (a, b, ...)" in the summary line, or "".
    function names(what,   s) {
      if (!match($0, "[0-9]+ " what "( [(][^)]*[)])?,")) return ""
      s = substr($0, RSTART, RLENGTH - 1)
      if (s !~ /[(]/) return ""
      sub(/^[^(]*[(]/, "", s); sub(/[)]$/, "", s); return s
    }
    /^hp-diff: wrote / { rep = count(names("replaced")); new = count(names("new")) }
    /^hp-diff: left out, line numbers only/ {
      l = $0; sub(/^[^(]*[(]/, "", l); sub(/[)]; --include.*/, "", l); lines = count(l)
    }
    END { printf "%d %d %d -\n", rep, new, lines }' "$1.out"
}

# reasons OUT: "NAME<TAB>REASON" for every function of the patch, and
# "NAME<TAB>left out: line numbers only" for those left out.
reasons() {
  [[ $(cat "$1.rc") == 0 ]] || return 0
  awk '
    /^  [^ ][^:]*: / { n = substr($0, 3); i = index(n, ": "); print substr(n, 1, i - 1) "\t" substr(n, i + 2) }
    /^hp-diff: left out, line numbers only/ {
      l = $0; sub(/^[^(]*\(/, "", l); sub(/\); --include.*/, "", l)
      k = split(l, a, ", "); for (j = 1; j <= k; j++) print a[j] "\tleft out: line numbers only"
    }' "$1.out"
}

# ---------------------------------------------------------------- run

selected() {
  ((${#filters[@]} == 0)) && return 0
  local f
  for f in "${filters[@]}"; do [[ $1 == *"$f"* ]] && return 0; done
  return 1
}

rows=()    # one per fix and flavour: the table's cells, |-separated
details=() # one per fix and flavour: the id of its results directory
for entry in "${fixes[@]}"; do
  IFS='|' read -r name version patch label what <<<"$entry"
  selected "$name $patch $label" || continue
  t0=$SECONDS
  dsc "$name" "$version"
  tree=$cache/tree/$name
  id=$name-${patch%.patch}
  work=$cache/obj/$id
  # Rebuilt when the compiler, the plugin (its copy is named by its hash),
  # the flags, the package's description in this script or the patch change.
  key=$({ echo "$CC $opt ${setting_flags[*]} $version"; "$CC" --version | head -1
          for fl in ${flavours[$name]}; do echo "${flags[$name/$fl]}"; declare -f "units_${name}_$fl"; done
          declare -f "prepare_$name" build_fix hash_units filter_patch; echo "${compiled_re[$name]}"
          sha256sum "${dsc_of[$name]}"; echo "$patch"; } | sha256sum | cut -c1-16)
  if [[ $(cat "$work/key" 2>/dev/null) == "$key" ]]; then
    log "$name $label: cached objects ($work)"
  else
    log "$name $label ($patch)"
    rm -rf "$work" && mkdir -p "$work"
    build_fix "$name" "$patch"
    echo "$key" >"$work/key"
    log "  built in $((SECONDS - t0)) s"
  fi
  files=$(sed 's|.*/||' "$work/touched" | paste -sd' ')
  mode=$(cat "$work/mode")
  for fl in ${flavours[$name]}; do
    out=$cache/out/$id/$fl
    rm -rf "$out" && mkdir -p "$out"
    run_hpdiff "$out/default" default "$fl"
    run_hpdiff "$out/full" full "$fl"
    run_hpdiff "$out/lines" default "$fl" --include-line-number-changes
    nobj=$(awk -v fl="$fl" '$1 == fl' "$work/changed" | wc -l)
    read -r dr dn dl dx <<<"$(summary "$out/default")"
    read -r fr fn fli fx <<<"$(summary "$out/full")"
    read -r lr _ _ lx <<<"$(summary "$out/lines")"
    refused=no
    if [[ $dx != - || $fx != - || $lx != - ]]; then
      refused="yes:"
      [[ $dx != - ]] && refused+=" default"
      [[ $fx != - ]] && refused+=" ipo=full"
      [[ $lx != - ]] && refused+=" +lines"
    fi
    [[ $mode == none ]] && refused="(no compiled file touched)"
    flv=""
    [[ ${flavours[$name]} == *" "* ]] && flv=" [$fl]"
    rows+=("$name $label$flv|${files:--}|$nobj|$dr/$dn/$dl|$fr/$fn/$fli|$lr|$refused|$mode")
    details+=("$id|$fl|$name $version $label$flv|$patch|$what")
    log "  $fl: default $dr/$dn/$dl, ipo=full $fr/$fn/$fli, +lines $lr, refused: $refused"
  done
done
((${#rows[@]})) || die "no fix selected"

# ---------------------------------------------------------------- report

echo "== ipo-fix-reach: functions real upstream fixes put into a live patch"
echo "$(date +%F), $(. /etc/os-release && echo "$PRETTY_NAME"), $("$CC" --version | head -1)"
echo "flags: $opt (+ each package's own); plugin: $plugin_in (run from ${plugin##*/}); hp-diff: $hpdiff_in (${hpdiff##*/})"
echo "default = -fplugin=hotpatch.so; ipo=full = the same + -fplugin-arg-hotpatch-ipo=full"
echo
fmt='%-40s %-30s %5s  %-16s %-16s %6s  %s\n'
printf "$fmt" fix "files touched" objs "default r/n/lo" "ipo=full r/n/lo" "+lines" "refused?"
for r in "${rows[@]}"; do
  IFS='|' read -r f files nobj d fu l refused mode <<<"$r"
  [[ $mode == series ]] && f+=" *"
  printf "$fmt" "$f" "$files" "$nobj" "$d" "$fu" "$l" "$refused"
done
echo
echo "r/n/lo: functions replaced / new / left out as line-numbers-only; - when refused."
echo "objs: objects whose preprocessed source differs (the pairs given to hp-diff)."
echo "+lines: functions replaced with --include-line-number-changes (default setting)."
echo "*: the fix does not reverse-apply on the shipped tree; measured in series order"
echo "   (old = the patches before it, new = the patches up to it)."
echo
# The .why files (NAME<TAB>REASON, sorted) of every fix, for both tables below.
for d in "${details[@]}"; do
  IFS='|' read -r id fl _ <<<"$d"
  out=$cache/out/$id/$fl
  for s in default full; do reasons "$out/$s" | sort -t$'\t' -k1,1 >"$out/$s.why"; done
done

# kinds WHY: how many functions of each kind of reason, "src/inl/body/file/ro/new/other"
# (left-out functions not counted).
kinds() {
  awk -F'\t' '
    $2 == "new" { k["new"]++; next }
    $2 ~ /^its source changed/ { k["src"]++; next }
    $2 ~ /^it inlines / { k["inl"]++; next }
    $2 ~ /^its code relies on what the compiler learned/ { k["body"]++; next }
    $2 ~ /^its source and callees are unchanged/ { k["file"]++; next }
    $2 ~ /^it reads the changed constant/ { k["ro"]++; next }
    $2 ~ /^left out/ { next }
    { k["other"]++ }
    END { printf "%d/%d/%d/%d/%d/%d/%d\n", k["src"], k["inl"], k["body"], k["file"], k["ro"], k["new"], k["other"] }' "$1"
}
echo "== the kinds of reason hp-diff gives (replaced and new functions)"
echo
fmt2='%-40s %-28s %-28s\n'
printf "$fmt2" fix "default" "ipo=full"
printf "$fmt2" "" "src/inl/body/file/ro/new/oth" "src/inl/body/file/ro/new/oth"
for i in "${!rows[@]}"; do
  IFS='|' read -r f _ _ _ _ _ refused mode <<<"${rows[$i]}"
  IFS='|' read -r id fl _ <<<"${details[$i]}"
  out=$cache/out/$id/$fl
  [[ $mode == series ]] && f+=" *"
  kd=$(kinds "$out/default.why") kf=$(kinds "$out/full.why")
  [[ $(cat "$out/default.rc") == 0 ]] || kd=refused
  [[ $(cat "$out/full.rc") == 0 ]] || kf=refused
  printf "$fmt2" "$f" "$kd" "$kf"
done
echo
echo "src:  its source changed             inl:  it inlines a function that changed"
echo "body: its code relies on what the compiler learned from the body of a changed callee"
echo "file: its source and callees are unchanged: a constant or other definition of its file changed"
echo "ro:   it reads a changed read-only constant   new: new function   oth: any other reason"
echo
echo "== why each function is in the patch, grouped by (default reason, ipo=full reason)"
for d in "${details[@]}"; do
  IFS='|' read -r id fl title patch what <<<"$d"
  out=$cache/out/$id/$fl
  echo
  echo "-- $title: $what"
  echo "   ($patch)"
  for s in default full lines; do
    if [[ $(cat "$out/$s.rc") != 0 ]]; then
      echo "   $([[ $s == full ]] && echo ipo=full || echo "$s"): REFUSED: $(grep -m1 'error:' "$out/$s.err" || head -1 "$out/$s.err")"
    fi
  done
  if grep -q '^no object changed' "$out/default.out"; then
    echo "   no object changed"
    continue
  fi
  if [[ ! -s $out/default.why && ! -s $out/full.why ]]; then
    [[ $(cat "$out/default.rc") != 0 && $(cat "$out/full.rc") != 0 ]] || echo "   nothing to patch"
  else
    # "-": not in that setting's patch, nor left out.
    join -t$'\t' -a1 -a2 -e - -o 0,1.2,2.2 "$out/default.why" "$out/full.why" |
      awk -F'\t' '
        { key = $2 "\t" ($3 == $2 ? "(same)" : $3); n[key]++; names[key] = names[key] (n[key] > 1 ? ", " : "") $1 }
        END {
          for (key in n) print n[key] "\t" key "\t" names[key]
        }' | sort -t$'\t' -k1,1nr -k2,2 |
      awk -F'\t' '{
        printf "   [%d] default:  %s\n       ipo=full: %s\n", $1, $2, $3
        line = "         "; k = split($4, a, ", ")
        for (j = 1; j <= k; j++) {
          w = a[j] (j < k ? "," : "")
          if (length(line) + length(w) > 110) { print line; line = "         " }
          line = line " " w
        }
        print line
      }'
  fi
  for s in default full; do
    n=$(grep -c 'warning:' "$out/$s.err" || true)
    ((n == 0)) || echo "   $([[ $s == full ]] && echo ipo=full || echo "$s"): $n warning(s), the first: $(grep -m1 'warning:' "$out/$s.err" | cut -c1-200)"
  done
done
echo
echo "(hp-diff's own output, per fix and setting: $cache/out/; the run took $((SECONDS - t_start)) s)"
