# Sourced by the bench scripts that fetch Debian source packages. Needs the
# caller's log and die functions and $cache (where apt's log goes).

apt_ready=0
# deb-src in apt's sources (idempotent), then apt-get update, once per run.
apt_prepare() {
  ((apt_ready)) && return
  [[ $(id -u) == 0 ]] || die "fetching sources needs root (apt-get source, apt-get install)"
  local f=/etc/apt/sources.list.d/debian.sources
  if grep -Eqs '^[[:space:]]*deb-src[[:space:]]|^Types:.*deb-src' \
       /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
    :
  elif [[ -f $f ]]; then
    log "enabling deb-src in $f"
    sed -i -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb deb-src/' "$f"
  else
    die "no deb-src in apt's sources and no $f to add it to"
  fi
  log "apt-get update"
  apt-get update -qq >"$cache/apt.log" 2>&1 || { tail -5 "$cache/apt.log" >&2; die "apt-get update failed"; }
  apt_ready=1
}

# need CMD PACKAGE: install PACKAGE unless CMD succeeds.
need() {
  eval "$1" >/dev/null 2>&1 && return
  apt_prepare
  log "installing $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >>"$cache/apt.log" 2>&1 \
    || { tail -5 "$cache/apt.log" >&2; die "apt-get install $2 failed"; }
}

# copy_tool FILE NAME: FILE copied into $cache/tools, named by its hash (the
# copy's path on stdout): a rebuild of build/ during the run changes
# nothing, and results can be cached per tool.
copy_tool() {
  local sha
  mkdir -p "$cache/tools"
  sha=$(sha256sum "$1" | cut -c1-16)
  local to=$cache/tools/$2-$sha
  if [[ ! -f $to ]]; then
    rm -f "$cache/tools/$2"-*
    cp "$1" "$to"
  fi
  echo "$to"
}
