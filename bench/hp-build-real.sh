#!/usr/bin/env bash
# hp-build on real upstream fixes of real projects, each patched live into
# the running old build under load. The fixes are the ones Debian 12 ships
# as patches in its source packages, applied to the pristine upstream
# sources (the .orig tarball) with the project's own build:
#   lua5.4     make linux                      (gcc by name from src/Makefile)
#   memcached  ./configure && make memcached   (autotools, CC)
#   redis      make                            (vendored jemalloc, lua, hiredis)
# For each project: `hp-build -C SRC -- BUILD` builds the release and keeps it
# (timed: the cold old build); the release's binary is started with a load
# that keeps calling into it and state to keep; then for each fix
# `hp-build --patch FIX --target RUNNING-BINARY` (the kept old build, the
# incremental new build, the diff) and `hp-apply -p PID`; the process must
# live, its state stay, its load go on. Each fix is applied to a fresh
# process of the release, so fixes of one project do not stack.
#
# Prints per fix: the functions replaced, hp-build's phases (old build
# kept, patch, new build, diff), its wall time, hp-apply's pause and wall
# time, and what was checked.
#
# Usage: bench/hp-build-real.sh [FILTER...]   only the projects whose name
#                                             or fix contains a FILTER
# Environment:
#   BENCH_CACHE         sources, hp-build's cache, logs
#                       (default bench/.cache/hp-build-real)
# The tools are those of build/, installed first into BENCH_CACHE/prefix
# (cmake --install): a rebuild of build/ during the run changes nothing.
# Sources are fetched with apt-get source (root, deb-src: enabled if
# missing); bench/ipo-cost.sh's download of lua5.4 is reused when present.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache=${BENCH_CACHE:-$repo/bench/.cache/hp-build-real}
hpbuild=$cache/prefix/bin/hp-build
hpapply=$cache/prefix/bin/hp-apply
filters=("$@")
mkdir -p "$cache"

exec 3>&2
started=() # processes this run started: killed on the way out, by pid
trap 'for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
log() { echo "hp-build-real: $*" >&3; }
die() { log "error: $*"; exit 1; }
[[ -x $repo/build/bin/hp-build ]] || die "build hotpatch first (ninja -C build)"
rm -rf "$cache/prefix"
cmake --install "$repo/build" --prefix "$cache/prefix" >"$cache/install.log" 2>&1 ||
  { tail -5 "$cache/install.log" >&2; die "cmake --install build failed"; }

# apt_prepare, need; apt-get under the machine's apt lock (other jobs share it)
apt-get() { flock "${APT_LOCK:-/tmp/hp-apt.lock}" apt-get "$@"; }
source bench/debian-sources.sh
need 'command -v dpkg-source' dpkg-dev
need 'command -v patch' patch
need 'test -f /usr/include/event.h' libevent-dev # memcached

# NAME|PATCH|DESCRIPTION
fixes=(
  "lua5.4|0004-cve-2022-28805.patch|CVE-2022-28805: wrong code when _ENV is <const> (lparser.c)"
  "lua5.4|0005-cve-2022-33099.patch|CVE-2022-33099: Lua-stack overflow in error handling (ldebug.c, lvm.c)"
  "memcached|0007-uninitialized-variables.patch|possibly uninitialized variable in the logger's parsers (logger.c)"
  "memcached|0008-CVE-2026-47783-CVE-2026-47784.patch|timing side-channel in the SASL password database (sasl_defs.c; not built without SASL)"
  "redis|0006-CVE-2025-32023.patch|CVE-2025-32023: out-of-bounds write in HyperLogLog (hyperloglog.c)"
  "redis|0001-Limiting-output-buffer-for-unauthenticated-client-CV.patch|CVE-2025-21605: unbounded output buffer of unauthenticated clients (networking.c)"
)
declare -A build_cmd=(
  [lua5.4]="make -j2 linux"
  [memcached]="[ -f Makefile ] || ./configure -q; make -j2 memcached"
  [redis]="make -j2 BUILD_TLS=no"
)
declare -A binary=([lua5.4]=src/lua [memcached]=memcached [redis]=src/redis-server)

wanted() {
  ((${#filters[@]} == 0)) && return 0
  local f
  for f in "${filters[@]}"; do [[ $1 == *"$f"* ]] && return 0; done
  return 1
}

# fetch NAME: $cache/src/NAME (the pristine upstream tree) and
# $cache/src/NAME-patches (debian/patches).
fetch() {
  local name=$1 d=$cache/src/dl-$1 dsc
  [[ -d $cache/src/$name && -d $cache/src/$name-patches ]] && return
  mkdir -p "$d"
  if [[ $name == lua5.4 && -d $repo/bench/.cache/ipo-cost/src/dl-lua5.4 ]]; then
    cp "$repo"/bench/.cache/ipo-cost/src/dl-lua5.4/lua5.4_* "$d/"
  fi
  if ! ls "$d"/*.dsc >/dev/null 2>&1; then
    apt_prepare
    log "fetching Debian source package $name"
    (cd "$d" && apt-get source --download-only "$name") >"$d.log" 2>&1 ||
      { tail -5 "$d.log" >&2; die "apt-get source $name failed"; }
  fi
  dsc=$(ls "$d"/*.dsc | head -1)
  log "$name: $(basename "$dsc")"
  rm -rf "$cache/src/$name" "$cache/src/$name-patches" "$d/x"
  mkdir -p "$d/x" "$cache/src/$name"
  tar -xf "$(ls "$d"/*.orig.tar.* | grep -v asc | head -1)" -C "$d/x"
  mv "$d"/x/*/* "$cache/src/$name/"
  rm -rf "$d/x" && mkdir -p "$d/x"
  tar -xf "$(ls "$d"/*.debian.tar.*)" -C "$d/x"
  mv "$d/x/debian/patches" "$cache/src/$name-patches"
  rm -rf "$d/x"
}

# ---------------------------------------------------------------- loads

# start_NAME RELEASE-TREE WORK: starts the release's binary under load in
# the background, sets pid (and port); check_NAME says what held after.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_lua5.4() {
  # The parser (what both fixes touch) under load: load() in a loop; the
  # running total is the state.
  "$1/src/lua" -e '
    local n, rounds = 0, 0
    while true do
      for i = 1, 200 do
        local f = load("local a <const> = " .. i .. "; local t = {a, a * 2}; return t[1] + t[2]")
        n = n + f()
      end
      rounds = rounds + 1
      if rounds % 50 == 0 then io.write(rounds, " ", n, "\n"); io.flush() end
    end' >"$2/out" 2>&1 &
  pid=$!
  started+=("$pid")
  sleep 1
}
check_lua5.4() {
  local before after
  before=$(tail -1 "$1/out")
  sleep 1
  after=$(tail -1 "$1/out")
  # n is 600 per... every round adds sum(3a) = 3 * 200*201/2 = 60300
  python3 - "$before" "$after" <<'EOF' || return 1
import sys
(r1, n1), (r2, n2) = (map(int, a.split()) for a in sys.argv[1:3])
assert r2 > r1 and n1 == r1 * 60300 and n2 == r2 * 60300, sys.argv
print("loop went on from round %d to %d, total exact (%d)" % (r1, r2, n2))
EOF
}

# A client that talks the project's protocol, for a load and for checks.
client() { # client memcached|redis PORT load SECONDS | set | get
  python3 - "$@" <<'EOF'
import socket, sys, time
kind, port, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
def mc(cmd, data=None):
    s.sendall(cmd.encode() + b"\r\n" + (data.encode() + b"\r\n" if data is not None else b""))
    lines = []
    while True:
        line = f.readline()
        if not line:
            sys.exit("the server closed the connection")
        line = line.rstrip(b"\r\n")
        lines.append(line)
        if line in (b"END", b"STORED", b"NOT_STORED") or line.startswith(b"ERROR"):
            return lines
def redis(*args):
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args))
    line = f.readline()
    if not line:
        sys.exit("the server closed the connection")
    line = line.rstrip(b"\r\n")
    if line[:1] == b"$":
        n = int(line[1:])
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    return line[1:].decode()
if what == "set":
    if kind == "memcached": assert mc("set state 0 0 5", "kept!") == [b"STORED"]
    else: assert redis("SET", "state", "kept!") == "OK"
elif what == "get":
    if kind == "memcached": print(mc("get state")[1].decode())
    else: print(redis("GET", "state"))
else:
    end, n = time.time() + float(sys.argv[4]), 0
    while time.time() < end:
        if kind == "memcached":
            mc("set k%d 0 0 1" % (n % 100), "x"); mc("get k%d" % (n % 100))
        else:
            redis("PFADD", "hll", "e%d" % n); redis("PFCOUNT", "hll")
        n += 1
    print(n)
EOF
}

# start_server PROTOCOL WORK COMMAND...: runs the server (on $port, which
# COMMAND names), stores a key, and puts it under load ($pid, $loadpid).
start_server() {
  local protocol=$1 work=$2
  shift 2
  "$@" >"$work/out" 2>&1 &
  pid=$!
  started+=("$pid")
  sleep 0.5
  client "$protocol" "$port" set
  client "$protocol" "$port" load 8 >"$work/load" 2>&1 &
  loadpid=$!
  started+=("$loadpid")
  sleep 1
}
start_memcached() {
  port=$(free_port)
  start_server memcached "$2" "$1/memcached" -U 0 -l 127.0.0.1 -p "$port" -t 2 -u root
}
start_redis() {
  port=$(free_port)
  start_server redis "$2" "$1/src/redis-server" --port "$port" --bind 127.0.0.1 \
    --save '' --appendonly no --daemonize no
}
check_server() { # check_server NAME WORK (not in a subshell: it waits for the load)
  wait "$loadpid" || { log "the load failed: $(tail -1 "$2/load")"; return 1; }
  local got; got=$(client "$1" "$port" get)
  [[ $got == kept! ]] || { log "state: got '$got'"; return 1; }
  echo "$(cat "$2/load") requests under load, all answered; state kept"
}
check_memcached() { check_server memcached "$1"; }
check_redis() { check_server redis "$1"; }

# ---------------------------------------------------------------- run

json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$@"; }
phase() { json "$1" "'%.1f' % [p for p in d['phases'] if p['name'] == '$2'][0]['seconds']"; }

results=()
declare -A release_tree release_secs
for entry in "${fixes[@]}"; do
  IFS='|' read -r name patch what <<<"$entry"
  wanted "$name $patch" || continue
  fetch "$name"
  src=$cache/src/$name
  work=$cache/work/$name-${patch%.patch}
  rm -rf "$work" && mkdir -p "$work"
  if [[ -z ${release_tree[$name]:-} ]]; then
    log "$name: the release (hp-build -C $src -- ${build_cmd[$name]})"
    "$hpbuild" -C "$src" --cache "$cache/hp-build" --json "$work/release.json" \
      -- "${build_cmd[$name]}" 2>"$work/release.log" ||
      { tail -25 "$work/release.log" >&2; die "$name: the release did not build"; }
    release_tree[$name]=$(json "$work/release.json" "d['old_tree']")
    release_secs[$name]=$(phase "$work/release.json" "old build")
    if [[ $(json "$work/release.json" "[p for p in d['phases'] if p['name'] == 'old build'][0]['cached']") == True ]]; then
      release_secs[$name]="kept from an earlier run (remove $cache/hp-build for a cold build)"
    else
      release_secs[$name]+=" s"
    fi
  fi
  rel=${release_tree[$name]}
  loadpid=
  start_"$name" "$rel" "$work"
  kill -0 "$pid" 2>/dev/null || die "$name: the release did not start: $(tail -3 "$work/out")"
  log "$name $patch: pid $pid under load; hp-build --patch"
  t0=$(date +%s.%N)
  if ! "$hpbuild" -C "$src" --cache "$cache/hp-build" --json "$work/fix.json" \
      --patch "$cache/src/$name-patches/$patch" --target "$rel/${binary[$name]}" \
      -o "$work/fix.hp" -- "${build_cmd[$name]}" >"$work/hp-build.out" 2>"$work/hp-build.log"; then
    kill "$pid" ${loadpid:-} 2>/dev/null; wait "$pid" 2>/dev/null || true
    results+=("$name|$patch|$what|hp-build failed: $(grep 'error:' "$work/hp-build.log" | head -1)")
    continue
  fi
  t1=$(date +%s.%N)
  replaced=$(json "$work/fix.json" "', '.join(d['replaced'] + d['added']) or '(none)'")
  apply=$("$hpapply" -p "$pid" --json "$work/fix.hp" 2>"$work/apply.log") ||
    { kill "$pid"; die "$name $patch: hp-apply failed: $(tail -2 "$work/apply.log")"; }
  pause=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%.0f us pause, %.1f ms wall" % (r["pause_ns"]/1e3, r.get("wall_ns", 0)/1e6))' "$apply" 2>/dev/null || echo "?")
  check_"$name" "$work" >"$work/checked" || { kill "$pid"; die "$name $patch: the patched process failed its check"; }
  checked=$(cat "$work/checked")
  kill -0 "$pid" 2>/dev/null || die "$name $patch: the patched process died"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  results+=("$name|$patch|$what|replaced: $replaced; hp-build $(python3 -c "print('%.1f' % ($t1 - $t0))") s (old build kept, patch $(phase "$work/fix.json" patch) s, new build $(phase "$work/fix.json" "new build") s, diff $(phase "$work/fix.json" diff) s); hp-apply $pause; $checked")
done

echo
echo "hp-build on real fixes ($(date -u +%Y-%m-%d), $(nproc) cores)"
for name in "${!release_secs[@]}"; do
  echo "  $name release (cold old build, kept): ${release_secs[$name]}"
done
for r in "${results[@]}"; do
  IFS='|' read -r name patch what result <<<"$r"
  echo "  $name $patch ($what)"
  echo "    $result"
done
