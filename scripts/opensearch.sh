#!/usr/bin/env bash
# Runs a throwaway single-node OpenSearch 2.19.6 on loopback for tests: no
# distribution, just Maven Central's jars and a tiny main (scripts/opensearch/,
# a Maven project) that starts org.opensearch.node.Node with the Netty4
# transport and the common analysis plugin. Built once and cached, so later
# runs are offline.
#
#   opensearch.sh fetch
#   opensearch.sh up [--dir DIR] [--owner-pid PID]
#   opensearch.sh restart [--dir DIR] [--kill]   (same data, same port if free)
#   opensearch.sh down [--dir DIR]               (DIR defaults to $OPENSEARCH_DIR)
#
# `up` and `restart` print OPENSEARCH_DIR=... and, last,
# OPENSEARCH_URL=http://127.0.0.1:PORT on stdout; everything else goes to
# stderr. With --owner-pid, a watchdog runs `down` once that process is
# gone, so a crashed test binary leaks nothing.
set -euo pipefail

VERSION=2.19.6
CACHE=${CONVEYOR_CACHE:-$HOME/.cache/conveyor}
READY_TIMEOUT=${OPENSEARCH_READY_TIMEOUT:-90}
STOP_GRACE=${OPENSEARCH_STOP_GRACE:-10}
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=scripts/lib.sh
source "$(dirname "$SELF")/lib.sh"
PROJECT=$(dirname "$SELF")/opensearch
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
MAIN=dev.conveyor.opensearch.TestNode
# Serial GC and a fixed small heap: a test node holds a few thousand
# documents. C1 only, as for Kafka's brokers: on 2 cores C2 makes startup
# slower (about 2.7-5 s instead of 2 s here) for throughput tests do not need.
JVM=(-Xms"${OPENSEARCH_HEAP:-512m}" -Xmx"${OPENSEARCH_HEAP:-512m}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError
  -Xlog:disable -Xlog:all=warning:stderr -Djava.awt.headless=true -Dfile.encoding=UTF-8)

need_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (install a Java 17+ runtime, e.g. scripts/ci-deps.sh)"
  local v
  v=$("$JAVA" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')
  [[ ${v%%.*} =~ ^[0-9]+$ && ${v%%.*} -ge 17 ]] || die "OpenSearch $VERSION needs Java 17+, $JAVA is ${v:-unknown}"
}

# The build is cached under the hash of the Maven project, so an edit to the
# pom or the main builds anew instead of running a stale jar.
build_dir() {
  local sum
  sum=$(cd "$PROJECT" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
  echo "$CACHE/opensearch-$VERSION-$sum"
}

# ---------------------------------------------------------------- fetch

cmd_fetch() {
  local home
  home=$(build_dir)
  [[ -f $home/libs/.complete ]] && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found: needed once to build the OpenSearch test node (scripts/ci-deps.sh installs it)"
  mkdir -p "$home"
  # Parallel test binaries may fetch at once: one builds, the others wait.
  exec 8>"$home/.lock"
  flock 8
  if [[ -f $home/libs/.complete ]]; then exec 8>&-; return 0; fi
  local tmp start=$SECONDS
  tmp=$(mktemp -d "$home/fetch.XXXXXX")
  log "building the OpenSearch $VERSION test node (jars from Maven Central) into $home/libs"
  # A copy, so no target/ lands in the source tree and builds never race.
  cp -R "$PROJECT/pom.xml" "$PROJECT/src" "$tmp/"
  if ! mvn -B -q -f "$tmp/pom.xml" package dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
    tail -n 30 "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn could not build the OpenSearch test node (log above)"
  fi
  [[ -f $tmp/libs/opensearch-$VERSION.jar ]] || { rm -rf "$tmp"; die "mvn ran but opensearch-$VERSION.jar is missing"; }
  cp "$tmp"/target/opensearch-test-node-*.jar "$tmp/libs/"
  rm -rf "$home/libs"
  touch "$tmp/libs/.complete"
  mv "$tmp/libs" "$home/libs"
  rm -rf "$tmp"
  exec 8>&-
  log "built the OpenSearch $VERSION test node ($(du -sh "$home/libs" | cut -f1)) in $((SECONDS - start))s"
}

# ---------------------------------------------------------------- process

resolve_dir() { state_dir "${1:-${OPENSEARCH_DIR:-}}" OPENSEARCH_DIR opensearch.sh; }

# The JVM's pid, if it is alive and runs from this folder (its home is
# DIR/data), so a stale pid never makes us signal a stranger.
server_pid() { serving_pid "$1" "$(state_get "$1" pid 2>/dev/null || true)"; }

# stop_server DIR [SIGNAL]: TERM closes the node cleanly (its shutdown
# hook), KILL is a crash; either way it waits until the process is gone.
stop_server() {
  local dir=$1 sig=${2:-TERM} pid i
  pid=$(server_pid "$dir")
  [[ -n $pid ]] || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_GRACE * 10; i++)); do
    # A zombie (not yet reaped by its parent) counts as gone.
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z) == Z ]] && return 0
    sleep 0.1
  done
  log "node $pid did not stop in ${STOP_GRACE}s, killing it"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z) == Z ]] && return 0
    sleep 0.1
  done
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

# start_node DIR PORT: starts the JVM (PORT 0: a free one) and waits until
# the node has written its port (it does once it has started, set
# cluster.default_number_of_replicas to 0 and reached yellow health) and
# answers HTTP. Returns 0 and records the port in DIR/state; 2 when PORT was
# taken; 1 if the node exits or times out.
start_node() {
  local dir=$1 want=$2 libs port deadline logged
  libs=$(build_dir)/libs
  # This run's part of the log starts here (it is appended to).
  logged=$(stat -c %s "$dir/opensearch.log" 2>/dev/null || echo 0)
  rm -f "$dir/port"
  mkdir -p "$dir/data/tmp"
  sed -i '/^pid=/d' "$dir/state"
  # path.home (and, below it, path.data) is DIR/data, which also marks the
  # process as ours for server_pid. setsid: it outlives this script and its
  # terminal. The log is appended to, so a restart keeps the earlier run's.
  # shellcheck disable=SC2086 # OPENSEARCH_JVM_EXTRA is a list of JVM flags
  (cd "$dir/data" && exec setsid "$JAVA" "${JVM[@]}" ${OPENSEARCH_JVM_EXTRA:-} \
    -Djava.io.tmpdir="$dir/data/tmp" -cp "$libs/*" "$MAIN" "$dir/data" "$dir/port" "$want" \
    </dev/null >>"$dir/opensearch.log" 2>&1) &
  echo "pid=$!" >>"$dir/state"
  deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if [[ -s $dir/port ]]; then
      port=$(<"$dir/port")
      if [[ $(http_status "$port" /) == 200 ]]; then
        sed -i '/^port=/d' "$dir/state"
        echo "port=$port" >>"$dir/state"
        return 0
      fi
    fi
    if [[ -z $(server_pid "$dir") ]]; then
      ((want != 0)) && tail -c +$((logged + 1)) "$dir/opensearch.log" | grep -qs 'BindHttpException' && return 2
      log "the node exited during startup"
      return 1
    fi
    sleep 0.1
  done
  log "timed out after ${READY_TIMEOUT}s waiting for the node to start"
  return 1
}

print_env() {
  echo "OPENSEARCH_DIR=$1"
  echo "OPENSEARCH_URL=http://127.0.0.1:$(state_get "$1" port)"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local made_dir=0 dir start=$SECONDS
  parse_up_args "$@"
  dir=$DIR
  need_java
  cmd_fetch
  if [[ -z $dir ]]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/conveyor-opensearch.XXXXXX")
    made_dir=1
  else
    [[ ! -f $dir/state || -z $(server_pid "$dir") ]] || die "up: $dir already runs a node (opensearch.sh down --dir $dir first)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
  fi
  # On failure, stop what was started; remove the dir only if we made it.
  trap 'stop_server "$dir" KILL; ((made_dir)) && rm -rf "$dir"' EXIT
  trap 'exit 130' INT TERM
  rm -rf "$dir/data" "$dir/state" "$dir/opensearch.log"
  printf 'dir=%s\n' "$dir" >"$dir/state"
  if ! start_node "$dir" 0; then
    log_tail "$dir/opensearch.log"
    die "up: the node did not start (dir $dir$( ((made_dir)) && echo ', removed'))"
  fi
  trap - EXIT INT TERM
  start_watch "$dir" "$OWNER"
  log "OpenSearch $VERSION up in $((SECONDS - start))s on port $(state_get "$dir" port)"
  print_env "$dir"
}

# restart: stops the node (cleanly, or SIGKILL with --kill) and starts it
# again on the same data, on the same port unless another process took it
# meanwhile (then on a new one: read OPENSEARCH_URL).
cmd_restart() {
  local dir kill=0 port rc start=$SECONDS
  split_dir_args "$@"
  for a in "${ARGS[@]}"; do
    case $a in
      --kill) kill=1 ;;
      *) die "restart: unknown argument $a" ;;
    esac
  done
  dir=$(resolve_dir "$DIR") || exit 1
  need_java
  port=$(state_get "$dir" port)
  [[ -n $port ]] || die "restart: $dir/state has no port"
  if ((kill)); then stop_server "$dir" KILL; else stop_server "$dir" TERM; fi
  rc=0
  start_node "$dir" "$port" || rc=$?
  if ((rc == 2)); then
    log "port $port was taken meanwhile: restarting on another"
    rc=0
    start_node "$dir" 0 || rc=$?
  fi
  if ((rc != 0)); then
    log_tail "$dir/opensearch.log"
    die "restart: the node did not come back (dir $dir)"
  fi
  log "restarted in $((SECONDS - start))s on port $(state_get "$dir" port)"
  print_env "$dir"
}

cmd_down() {
  local dir
  dir=$(down_dir "$@")
  stop_server "$dir" TERM
  rm -rf "$dir"
}

case ${1:-} in
  fetch) shift; cmd_fetch "$@" ;;
  up) shift; cmd_up "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  down) shift; cmd_down "$@" ;;
  _watch) shift; cmd_watch "$@" ;;
  *) usage ;;
esac
