#!/usr/bin/env bash
# Runs a throwaway Confluent-compatible schema registry on loopback for
# tests: Apicurio Registry 2.x (a Quarkus app on Java 17+) with in-memory
# storage, on a free port. The app comes from Maven Central once and is
# cached, so later runs are offline.
#
#   registry.sh fetch
#   registry.sh up [--dir DIR] [--owner-pid PID]   (--watch PID is the same)
#   registry.sh down [--dir DIR]                   (DIR defaults to $REGISTRY_DIR)
#
# `up` prints REGISTRY_DIR=... and, last,
# REGISTRY_URL=http://127.0.0.1:PORT/apis/ccompat/v7 (Confluent's REST API)
# on stdout; everything else goes to stderr. With --owner-pid, a watchdog
# runs `down` once that process is gone, so a crashed test binary leaks
# nothing.
set -euo pipefail

VERSION=2.6.13.Final
CACHE=${CONVEYOR_CACHE:-$HOME/.cache/conveyor}
HOME_DIR=$CACHE/apicurio-registry-$VERSION
READY_TIMEOUT=${REGISTRY_READY_TIMEOUT:-90}
STOP_GRACE=${REGISTRY_STOP_GRACE:-10}
CCOMPAT=/apis/ccompat/v7
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=scripts/lib.sh
source "$(dirname "$SELF")/lib.sh"
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
# A small heap is plenty for a test registry that keeps a few hundred
# schemas in memory. C1 only and serial GC: startup on 2 cores matters more
# than peak throughput, as for Kafka's brokers.
JVM=(-Xmx256m -Xss512k -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError
  -Xlog:disable -Xlog:all=warning:stderr -Djava.awt.headless=true)

need_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (install a Java 17+ runtime, e.g. scripts/ci-deps.sh)"
  local v
  v=$("$JAVA" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')
  [[ ${v%%.*} =~ ^[0-9]+$ && ${v%%.*} -ge 17 ]] || die "Apicurio Registry $VERSION needs Java 17+, $JAVA is ${v:-unknown}"
}

# The runner jar of the unpacked app (its lib/ folder sits beside it).
runner_jar() { find "$HOME_DIR/app" -name "apicurio-registry-app-$VERSION-runner.jar" -print -quit; }

# ---------------------------------------------------------------- fetch

cmd_fetch() {
  [[ -f $HOME_DIR/app/.complete ]] && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found: needed once to fetch Apicurio Registry $VERSION (scripts/ci-deps.sh installs it)"
  mkdir -p "$HOME_DIR"
  # Parallel test binaries may fetch at once: one fetches, the others wait.
  exec 8>"$HOME_DIR/.lock"
  flock 8
  if [[ -f $HOME_DIR/app/.complete ]]; then exec 8>&-; return 0; fi
  local tmp start=$SECONDS artifact=io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all
  tmp=$(mktemp -d "$HOME_DIR/fetch.XXXXXX")
  log "fetching $artifact from Maven Central into $HOME_DIR"
  # dependency:copy needs no project, so no pom.
  if ! mvn -B -q dependency:copy -Dartifact="$artifact" -DoutputDirectory="$tmp" \
    -Dmdep.overWriteReleases=true >"$tmp/mvn.log" 2>&1; then
    tail -n 30 "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn could not fetch $artifact (log above)"
  fi
  local tgz=$tmp/apicurio-registry-app-$VERSION-all.tar.gz
  [[ -f $tgz ]] || { rm -rf "$tmp"; die "mvn ran but $tgz is missing"; }
  mkdir "$tmp/app"
  tar -xzf "$tgz" -C "$tmp/app" || { rm -rf "$tmp"; die "could not unpack $tgz"; }
  rm -f "$tgz"
  # Maven keeps its own copy in ~/.m2 as well: the unpacked app is all we
  # use, so drop that one (a quarter of a gigabyte).
  rm -rf "$HOME/.m2/repository/io/apicurio/apicurio-registry-app/$VERSION"
  rm -rf "$HOME_DIR/app"
  mv "$tmp/app" "$HOME_DIR/app"
  rm -rf "$tmp"
  [[ -n $(runner_jar) ]] || die "the unpacked app in $HOME_DIR/app has no apicurio-registry-app-$VERSION-runner.jar"
  touch "$HOME_DIR/app/.complete"
  exec 8>&-
  log "fetched Apicurio Registry $VERSION ($(du -sh "$HOME_DIR/app" | cut -f1)) in $((SECONDS - start))s"
}

# ---------------------------------------------------------------- process

resolve_dir() { state_dir "${1:-${REGISTRY_DIR:-}}" REGISTRY_DIR registry.sh; }

# The JVM's pid, if it is alive and runs from this folder (its tmpdir is
# DIR/data), so a stale pid never makes us signal a stranger.
server_pid() { serving_pid "$1" "$(state_get "$1" pid 2>/dev/null || true)"; }

stop_server() {
  local dir=$1 pid i
  pid=$(server_pid "$dir")
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_GRACE * 10; i++)); do
    # A zombie (not yet reaped by its parent) counts as gone.
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z) == Z ]] && return 0
    sleep 0.1
  done
  log "registry $pid did not stop in ${STOP_GRACE}s, killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# http_status PORT PATH: the status code of a GET, with bash alone (no curl
# on a bare CI image); empty when nothing answers.
http_status() {
  local line=""
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    read -r -t 5 line <&3 || true
    line=${line#HTTP/* }
    echo "${line%% *}"
  ) 2>/dev/null
}

# wait_ready DIR PORT: 0 once the ccompat API answers 200; 2 on a port
# clash (so `up` can retry another port); 1 if the JVM exits or times out.
wait_ready() {
  local dir=$1 port=$2 deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    [[ $(http_status "$port" "$CCOMPAT/subjects") == 200 ]] && return 0
    if [[ -z $(server_pid "$dir") ]]; then
      grep -qs 'Address already in use\|Port .* seems to be in use' "$dir/registry.log" && return 2
      log "the registry exited during startup"
      return 1
    fi
    sleep 0.2
  done
  log "timed out after ${READY_TIMEOUT}s waiting for $CCOMPAT/subjects on port $port"
  return 1
}

# ---------------------------------------------------------------- up, down

cmd_up() {
  local dir="" owner="" made_dir=0 jar port attempt rc start=$SECONDS
  while (($#)); do
    case $1 in
      --dir) dir=${2:?--dir needs a value}; shift 2 ;;
      --owner-pid | --watch) owner=${2:?$1 needs a value}; shift 2 ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  need_java
  cmd_fetch
  jar=$(runner_jar)
  if [[ -z $dir ]]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/conveyor-registry.XXXXXX")
    made_dir=1
  else
    [[ ! -f $dir/state || -z $(server_pid "$dir") ]] || die "up: $dir already runs a registry (registry.sh down --dir $dir first)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
  fi
  # On failure, stop what was started; remove the dir only if we made it.
  trap 'stop_server "$dir"; ((made_dir)) && rm -rf "$dir"' EXIT
  trap 'exit 130' INT TERM
  for attempt in 1 2 3; do
    rm -rf "$dir/data" "$dir/state"
    mkdir -p "$dir/data"
    port=$(free_port)
    printf 'dir=%s\nport=%s\n' "$dir" "$port" >"$dir/state"
    # The -D options must come before -jar. tmpdir in DIR/data: Quarkus and
    # Vert.x write their scratch files there, and it marks the process as
    # ours for server_pid. setsid: it outlives this script and its terminal.
    # shellcheck disable=SC2086 # REGISTRY_JVM_EXTRA is a list of JVM flags
    (cd "$dir/data" && exec setsid "$JAVA" "${JVM[@]}" ${REGISTRY_JVM_EXTRA:-} \
      -Djava.io.tmpdir="$dir/data" -Dvertx.cacheDirBase="$dir/data/vertx" \
      -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
      -jar "$jar" </dev/null >"$dir/registry.log" 2>&1) &
    echo "pid=$!" >>"$dir/state"
    rc=0
    wait_ready "$dir" "$port" || rc=$?
    ((rc == 0)) && break
    stop_server "$dir"
    if ((rc == 2 && attempt < 3)); then
      log "port $port taken, retrying with another"
      continue
    fi
    log_tail "$dir/registry.log"
    die "up: the registry did not start (dir $dir$( ((made_dir)) && echo ', removed'))"
  done
  trap - EXIT INT TERM
  start_watch "$dir" "$owner"
  log "Apicurio Registry $VERSION up in $((SECONDS - start))s on port $port"
  echo "REGISTRY_DIR=$dir"
  echo "REGISTRY_URL=http://127.0.0.1:$port$CCOMPAT"
}

cmd_down() {
  local dir
  dir=$(down_dir "$@")
  stop_server "$dir"
  rm -rf "$dir"
}

case ${1:-} in
  fetch) shift; cmd_fetch "$@" ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  _watch) shift; cmd_watch "$@" ;;
  *) usage ;;
esac
