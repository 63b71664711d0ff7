#!/usr/bin/env bash
# Run-time cost of hotpatch's interprocedural discipline on real programs.
#
# By default the plugin keeps every patchable function's body opaque to its
# callers except through inlining (no inferred attributes, no propagated
# return constants, no signature changes of static functions), so that a
# live fix to a function takes effect everywhere. That forgoes some
# optimisation. This measures what it costs on real C and C++ programs from
# Debian's source packages, each running its own workload:
#   lua5.4   the interpreter running bench/ipo-cost/workload.lua (7 kernels)
#   sqlite3  the shell (Debian's compile options) running the SQL script of
#            bench/ipo-cost/gen-sql.py on an in-memory database
#   re2      bench/ipo-cost/re2-bench.cc driving RE2 (C++): compiling
#            patterns, submatches, scanning, RE2::Set, GlobalReplace
# Each program is built three ways with identical flags (clang-19 -O2) but:
#   none      no plugin
#   plugin    -fplugin=hotpatch.so (the default discipline)
#   ipo-full  -fplugin=hotpatch.so -fplugin-arg-hotpatch-ipo=full
# A configuration whose build fails is skipped with a message. Every build's
# output is compared with the no-plugin build's before timing. Then REPS
# rounds, each running every program once in every configuration (the order
# of configurations rotating between rounds), so drift hits all alike; the
# result is the median per program and configuration, the ratios, and the
# median ratio over programs (target: plugin/none <= 1.02). No thresholds.
#
# Usage: bench/ipo-cost.sh [REPS]        (default 5, or $REPS)
# Environment:
#   HOTPATCH_PLUGIN  the plugin (default build/lib/hotpatch.so); it is copied
#                    into the cache first, so a rebuild during the run is harmless
#   METRIC=cpu|wall  what is timed: user+sys CPU time of the workload's
#                    process (default) or its wall time
#   CONTENDED=1      run the workloads with two busy processes per core
#   OPT="-O2"        the optimisation flags shared by all configurations
#   BENCH_CACHE      sources, builds and workloads (default bench/.cache/ipo-cost)
# Needs root on a first run: it enables deb-src in apt's sources if needed,
# runs apt-get update and installs the few tools the sources need to build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
reps=${1:-${REPS:-5}}
metric=${METRIC:-cpu}
contended=${CONTENDED:-0}
opt=${OPT:--O2}
plugin_in=${HOTPATCH_PLUGIN:-$repo/build/lib/hotpatch.so}
cache=${BENCH_CACHE:-$repo/bench/.cache/ipo-cost}
here=$repo/bench/ipo-cost
ncpu=$(nproc)
CC=clang-19
CXX=clang++-19
programs=(lua5.4 sqlite3 re2)

exec 3>&2 # progress goes to the run's stderr, even from steps whose output goes to a log
log() { echo "ipo-cost: $*" >&3; }
die() { log "error: $*"; exit 1; }
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive number, not '$reps'"
[[ $metric == cpu || $metric == wall ]] || die "METRIC must be cpu or wall"
for tool in "$CC" "$CXX"; do command -v "$tool" >/dev/null || die "needs $tool"; done
test -f "$plugin_in" || die "no plugin at $plugin_in (build it, or set HOTPATCH_PLUGIN)"
mkdir -p "$cache"/{src,build,work,plugin}

# ---------------------------------------------------------------- sources

# apt_prepare, need
source bench/debian-sources.sh # (the script runs from the repository root)

# fetch NAME: Debian's source package NAME, unpacked with its patches, as
# $cache/src/NAME (a link to the versioned directory).
fetch() {
  local name=$1 d=$cache/src/dl-$1
  [[ -e $cache/src/$name/.unpacked ]] && return
  apt_prepare
  need 'command -v dpkg-source' dpkg-dev
  log "fetching Debian source package $name"
  rm -rf "$d" && mkdir -p "$d"
  (cd "$d" && apt-get source "$name") >"$d.log" 2>&1 || { tail -5 "$d.log" >&2; die "apt-get source $name failed"; }
  local dir
  dir=$(find "$d" -mindepth 1 -maxdepth 1 -type d | head -1)
  [[ -n $dir ]] || die "apt-get source $name unpacked nothing"
  ln -sfn "$dir" "$cache/src/$name"
  touch "$dir/.unpacked"
}

# What each source tree needs before it can be compiled (done once).
prepare_lua5.4() {
  # Debian's build writes this header (debian/rules); luaconf.h includes it.
  printf '#ifndef _LUA_DEB_MULTIARCH_\n#define _LUA_DEB_MULTIARCH_\n#define DEB_HOST_MULTIARCH "%s"\n#endif\n' \
    "$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)" >src/lua5.4-deb-multiarch.h
}
prepare_sqlite3() {
  # The amalgamation (sqlite3.c, shell.c) from the source tree, with SQLite's
  # own makefile and tclsh, no configure run.
  need 'command -v tclsh' tcl
  mkdir -p amalgamation
  (cd amalgamation && make -f ../main.mk TOP="$PWD/.." BCC="$CC" TCC="$CC" NAWK=awk \
     AR="ar cr" TCLSH_CMD=tclsh THREADLIB="-lpthread -lm" sqlite3.c shell.c)
}
prepare_re2() {
  # Generated tables, stripped from Debian's source (debian/copyright).
  need 'test -f /usr/share/unicode/UnicodeData.txt' unicode-data
  need 'python3 -c "import six"' python3-six
  perl re2/make_perl_groups.pl >re2/perl_groups.cc
  python3 re2/make_unicode_casefold.py >re2/unicode_casefold.cc
  python3 re2/make_unicode_groups.py >re2/unicode_groups.cc
}

for p in "${programs[@]}"; do
  fetch "$p"
  if [[ ! -e $cache/src/$p/.prepared ]]; then
    log "preparing $p sources"
    (cd "$cache/src/$p" && "prepare_$p") >"$cache/src/prepare-$p.log" 2>&1 \
      || { tail -5 "$cache/src/prepare-$p.log" >&2; die "preparing $p failed ($cache/src/prepare-$p.log)"; }
    touch "$cache/src/$p/.prepared"
  fi
done

# ---------------------------------------------------------------- configurations

# A copy of the plugin named by its hash: builds are cached per plugin, and
# rebuilding build/ during a run cannot change the plugin under it.
plugin_sha=$(sha256sum "$plugin_in" | cut -c1-16)
plugin=$cache/plugin/hotpatch-$plugin_sha.so
if [[ ! -f $plugin ]]; then
  rm -f "$cache"/plugin/hotpatch-*.so # the copies of earlier plugins
  cp "$plugin_in" "$plugin"
fi

declare -A cfg_flags=(
  [none]=""
  [plugin]="-fplugin=$plugin"
  [ipo-full]="-fplugin=$plugin -fplugin-arg-hotpatch-ipo=full"
)
configs=()
for c in none plugin ipo-full; do
  # shellcheck disable=SC2086 # the flags are words
  if err=$(echo 'int main(void) { return 0; }' | "$CC" ${cfg_flags[$c]} -x c - -c -o /dev/null 2>&1); then
    configs+=("$c")
  else
    log "skipping configuration '$c': its flags do not build ($(head -1 <<<"$err"))"
  fi
done
[[ ${configs[0]:-} == none ]] || die "the no-plugin configuration does not build"

# ---------------------------------------------------------------- programs

# For each program: its language, sources, compile and link flags (Debian's
# where they matter) and how its workload runs, given the executable.
s=$cache/src
declare -A lang cflags libs
lang[lua5.4]=c
cflags[lua5.4]="-DLUA_COMPAT_5_3 -DLUA_USE_LINUX"
libs[lua5.4]="-Wl,-E -lm -ldl"
files_lua5.4() { for f in "$s"/lua5.4/src/*.c; do [[ $f == */luac.c ]] || echo "$f"; done; }
run_lua5.4() { "$1" "$here/workload.lua"; }

lang[sqlite3]=c
cflags[sqlite3]="-fno-strict-aliasing -DSQLITE_SECURE_DELETE -DSQLITE_ENABLE_COLUMN_METADATA
  -DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_RTREE=1 -DSQLITE_SOUNDEX=1
  -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_OMIT_LOOKASIDE=1 -DSQLITE_ENABLE_DBSTAT_VTAB
  -DSQLITE_ALLOW_ROWID_IN_VIEW -DSQLITE_ENABLE_UPDATE_DELETE_LIMIT=1 -DSQLITE_ENABLE_LOAD_EXTENSION
  -DSQLITE_ENABLE_JSON1 -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_THREADSAFE=1
  -DSQLITE_ENABLE_FTS3_TOKENIZER=1 -DSQLITE_USE_URI=1 -DSQLITE_MAX_SCHEMA_RETRY=25
  -DSQLITE_ENABLE_PREUPDATE_HOOK -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_STMTVTAB
  -DSQLITE_MAX_VARIABLE_NUMBER=250000 -DHAVE_USLEEP -I$s/sqlite3/amalgamation"
libs[sqlite3]="-lpthread -lm -ldl"
files_sqlite3() { echo "$s/sqlite3/amalgamation/sqlite3.c" "$s/sqlite3/amalgamation/shell.c"; }
run_sqlite3() { "$1" :memory: <"$cache/work/workload.sql"; }

lang[re2]="c++"
cflags[re2]="-std=c++11 -pthread -I$s/re2"
libs[re2]="-pthread"
files_re2() { ls "$s"/re2/util/{rune,strutil}.cc "$s"/re2/re2/*.cc; echo "$here/re2-bench.cc"; }
run_re2() { "$1"; }

# The SQL script, generated once per version of its generator.
sql_key=$(sha256sum "$here/gen-sql.py" | cut -c1-16)
if [[ $(cat "$cache/work/workload.sql.key" 2>/dev/null) != "$sql_key" ]]; then
  log "generating the SQL workload"
  python3 "$here/gen-sql.py" "$cache/work/workload.sql"
  echo "$sql_key" >"$cache/work/workload.sql.key"
fi

# ---------------------------------------------------------------- builds

# compile DIR COMPILER FLAGS SOURCE: one object, in the background, at most
# $ncpu at once; a failure leaves DIR/FAILED and its message in DIR/build.log.
compile() {
  local dir=$1 cc=$2 flags=$3 source=$4
  while (($(jobs -rp | wc -l) >= ncpu)); do wait -n || true; done
  # shellcheck disable=SC2086
  { $cc $flags -c "$source" -o "$dir/$(basename "${source%.*}").o" 2>>"$dir/build.log" \
      || touch "$dir/FAILED"; } &
}

declare -A bin # [PROGRAM/CONFIG] = the executable, for the builds that work
for p in "${programs[@]}"; do
  cc=$CC
  [[ ${lang[$p]} == c++ ]] && cc=$CXX
  todo=()
  for c in "${configs[@]}"; do
    d=$cache/build/$p/$c
    # Rebuilt when the compiler, the flags (the plugin's copy is named by its
    # hash), the sources or this program's description change.
    key=$({ echo "$cc $opt ${cfg_flags[$c]} ${cflags[$p]} ${libs[$p]}"; "$cc" --version | head -1
            declare -f "files_$p"; "files_$p" | xargs cat; } | sha256sum | cut -c1-16)
    if [[ -x $d/bin && $(cat "$d/key" 2>/dev/null) == "$key" ]]; then
      bin[$p/$c]=$d/bin
      continue
    fi
    rm -rf "$d" && mkdir -p "$d" && echo "$key" >"$d/key.new"
    todo+=("$c")
  done
  if ((${#todo[@]} == 0)); then
    log "$p: cached builds ($cache/build/$p)"
    continue
  fi
  log "building $p ($("files_$p" | wc -w) files) for: ${todo[*]}"
  t0=$SECONDS
  for c in "${todo[@]}"; do
    for f in $("files_$p"); do
      compile "$cache/build/$p/$c" "$cc" "$opt ${cfg_flags[$c]} ${cflags[$p]}" "$f"
    done
  done
  wait
  for c in "${todo[@]}"; do
    d=$cache/build/$p/$c
    # shellcheck disable=SC2086
    if [[ ! -e $d/FAILED ]] && $cc $opt "$d"/*.o ${libs[$p]} -o "$d/bin" 2>>"$d/build.log"; then
      mv "$d/key.new" "$d/key"
      bin[$p/$c]=$d/bin
    else
      log "$p: the '$c' build failed, skipping it: $(grep -m1 'error' "$d/build.log" || tail -1 "$d/build.log") (all of it: $d/build.log)"
    fi
  done
  log "built $p in $((SECONDS - t0)) s"
done

# ---------------------------------------------------------------- load

busy=()
cleanup() { ((${#busy[@]} == 0)) || kill "${busy[@]}" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
if [[ $contended == 1 ]]; then
  for ((i = 0; i < 2 * ncpu; i++)); do
    (while :; do :; done) &
    busy+=($!)
  done
  log "contended: ${#busy[@]} busy processes on $ncpu cores (pids ${busy[*]})"
fi

# ---------------------------------------------------------------- check

# One untimed run of every build: it warms the page cache, and each build's
# output must be the no-plugin build's (else that build is left out).
run_ok=()
for p in "${programs[@]}"; do
  for c in "${configs[@]}"; do
    [[ -n ${bin[$p/$c]:-} ]] || continue
    out=$cache/work/$p-$c.out
    log "checking $p ($c)"
    if ! "run_$p" "${bin[$p/$c]}" >"$out" 2>"$out.err"; then
      log "$p: the '$c' build's workload failed, skipping it ($out.err)"
      unset "bin[$p/$c]"
    elif [[ $c != none ]] && ! cmp -s "$cache/work/$p-none.out" "$out"; then
      log "$p: the '$c' build prints other results than the no-plugin build, skipping it (diff $cache/work/$p-none.out $out)"
      unset "bin[$p/$c]"
    fi
  done
  if [[ -n ${bin[$p/none]:-} ]]; then run_ok+=("$p"); else log "$p: no working no-plugin build, left out"; fi
done
((${#run_ok[@]})) || die "no program to measure"

# ---------------------------------------------------------------- rounds

samples=$cache/samples-last.tsv # round, program, configuration, wall s, cpu s
: >"$samples"
# measure PROGRAM CONFIG: prints "WALL CPU" (seconds) of one workload run.
measure() {
  local TIMEFORMAT='%3R %3U %3S' t
  t=$({ time "run_$1" "${bin[$1/$2]}" >/dev/null 2>&1; } 2>&1) || return 1
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<<"$t"
}
n=${#configs[@]}
t_rounds=$SECONDS
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= reps; r++)); do
  line="round $r/$reps:"
  for p in "${run_ok[@]}"; do
    line+="  $p"
    for ((k = 0; k < n; k++)); do
      c=${configs[(k + r - 1) % n]} # the order rotates from round to round
      [[ -n ${bin[$p/$c]:-} ]] || continue
      t=$(measure "$p" "$c") || die "$p ($c): the workload failed"
      echo "$r $p $c $t" >>"$samples"
      line+=" $c $([[ $metric == cpu ]] && echo "${t#* }" || echo "${t% *}")"
    done
  done
  log "$line"
done

# ---------------------------------------------------------------- report

col=5
[[ $metric == wall ]] && col=4
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
med() { awk -v p="$1" -v c="$2" -v col="$col" '$2 == p && $3 == c { print $col }' "$samples" | median; }
ratio() { if [[ -n $1 && -n $2 ]]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; else echo -; fi; }
# Spread of the no-plugin runs, (max - min) / median, a hint of the noise.
spread() {
  awk -v p="$1" -v col="$col" '$2 == p && $3 == "none" { print $col }' "$samples" | sort -g |
    awk '{ a[NR] = $1 } END { m = (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)
                              printf "%.1f%%", 100 * (a[NR] - a[1]) / m }'
}
# Debian's version of a source package, from the name of its .dsc.
version() { local f; f=$(ls "$s/dl-$1"/*.dsc | head -1); f=${f##*/}; f=${f%.dsc}; echo "${f#*_}"; }

echo "== ipo-cost: run time of real programs, hotpatch's IPO discipline"
echo "$(date +%F), $ncpu cores, $(. /etc/os-release && echo "$PRETTY_NAME"), $("$CC" --version | head -1)"
echo "sources (Debian): $(for p in "${run_ok[@]}"; do printf '%s %s, ' "$p" "$(version "$p")"; done | sed 's/, $//')"
echo "flags: $opt (+ each program's own); plugin: $plugin_in (sha256 $plugin_sha…)"
echo "configurations built: ${configs[*]}$( ((n < 3)) && echo "  (others skipped: their flags do not build)")"
echo "metric: $([[ $metric == cpu ]] && echo "user+sys CPU time" || echo "wall time") of the workload, median of $reps, seconds;" \
  "$([[ $contended == 1 ]] && echo "CONTENDED: ${#busy[@]} busy processes on $ncpu cores" || echo "no load added")"
echo
fmt='%-18s %8s %8s %8s  %11s %13s %15s  %6s\n'
printf "$fmt" program none plugin ipo-full plugin/none ipo-full/none plugin/ipo-full noise
declare -A ratios
for p in "${run_ok[@]}"; do
  mn=$(med "$p" none) mp=$(med "$p" plugin) mf=$(med "$p" ipo-full)
  r1=$(ratio "$mp" "$mn") r2=$(ratio "$mf" "$mn") r3=$(ratio "$mp" "$mf")
  ratios[1]+="$r1 " ratios[2]+="$r2 " ratios[3]+="$r3 "
  printf "$fmt" "$p" "${mn:--}" "${mp:--}" "${mf:--}" "$r1" "$r2" "$r3" "$(spread "$p")"
done
mr() { tr ' ' '\n' <<<"${ratios[$1]}" | { grep -v -e '^-$' -e '^$' || true; } | median; }
m1=$(mr 1) m2=$(mr 2) m3=$(mr 3)
printf "$fmt" "median of programs" "" "" "" "${m1:--}" "${m2:--}" "${m3:--}" ""
echo
echo "(target: plugin/none <= 1.02 over programs. noise: (max - min) / median of the no-plugin runs."
echo " load average before the rounds: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg), busy processes included;"
echo " rounds took $((SECONDS - t_rounds)) s; every sample: $samples)"
