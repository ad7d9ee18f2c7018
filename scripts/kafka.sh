#!/usr/bin/env bash
# Runs a throwaway Apache Kafka (KRaft, no ZooKeeper, no Docker) on loopback
# for tests: one node, or three for broker fault tests. The jars come from
# Maven Central once and are cached, so later runs are offline.
#
#   kafka.sh fetch [VERSION]
#   kafka.sh up [--nodes 1|3] [--dir DIR] [--version V] [--owner-pid PID]
#   kafka.sh down [--dir DIR]                (DIR defaults to $KAFKA_DIR)
#   kafka.sh kill-node [--dir DIR] N         (SIGKILL node N)
#   kafka.sh start-node [--dir DIR] N        (start it again, same config and data)
#   kafka.sh leader [--dir DIR] TOPIC PARTITION
#   kafka.sh status [--dir DIR]
#   kafka.sh run-class CLASS|FILE.java [ARGS...]  (Java against Kafka's jars, e.g. its tools)
#
# `up` prints KAFKA_DIR=... and, last, KAFKA_BROKERS=host:port[,...] on
# stdout; everything else goes to stderr. With --owner-pid, a watchdog runs
# `down` once that process is gone, so a crashed test binary leaks nothing.
set -euo pipefail

DEFAULT_VERSION=4.1.1
# The log4j that Kafka 4.1 is built against; the slf4j 1.x binding routes the
# broker's logs into a file instead of slf4j's no-op logger.
LOG4J_VERSION=2.24.3
CACHE=${CONVEYOR_CACHE:-$HOME/.cache/conveyor}
READY_TIMEOUT=${KAFKA_READY_TIMEOUT:-90}
STOP_GRACE=${KAFKA_STOP_GRACE:-10}
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=scripts/lib.sh
source "$(dirname "$SELF")/lib.sh"
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
# JVM warnings (e.g. about the class-data archive) to stderr, never into a
# tool's stdout that this script parses.
JVM_COMMON=(-Xlog:disable -Xlog:all=warning:stderr -Djava.awt.headless=true)
# Tools are short-lived: C1 only and serial GC start noticeably faster on 2 cores.
TOOL_JVM=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1)
# Brokers: C1 only too. C2 would spend seconds of CPU per broker while starting
# (~2x slower startup on 2 cores), for peak throughput that tests do not need.
BROKER_JVM=(-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError)
JAVA_BUILD=""

need_java() {
  [[ -n $JAVA_BUILD ]] && return 0
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (install a Java 17+ runtime, e.g. scripts/ci-deps.sh)"
  local props v
  props=$("$JAVA" -XshowSettings:properties -version 2>&1)
  v=$(awk -F' = ' '/java.specification.version/ {print $2}' <<<"$props")
  [[ ${v%%.*} =~ ^[0-9]+$ && ${v%%.*} -ge 17 ]] || die "Kafka 4.x brokers need Java 17+, $JAVA is ${v:-unknown}"
  JAVA_BUILD=$(awk -F' = ' '/java.vm.version/ {print $2}' <<<"$props" | tr -c 'A-Za-z0-9.\n-' _)
}

home_of() { echo "$CACHE/kafka-$1"; }

# ---------------------------------------------------------------- fetch

cmd_fetch() {
  local version=${1:-$DEFAULT_VERSION} home
  home=$(home_of "$version")
  [[ -f $home/libs/.complete ]] && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found: needed once to fetch Kafka $version (scripts/ci-deps.sh installs it)"
  mkdir -p "$home"
  # Parallel test binaries may fetch at once: one fetches, the others wait.
  exec 8>"$home/.lock"
  flock 8
  if [[ -f $home/libs/.complete ]]; then exec 8>&-; return 0; fi
  local tmp start=$SECONDS
  tmp=$(mktemp -d "$home/fetch.XXXXXX")
  log "fetching Kafka $version jars from Maven Central into $home/libs"
  # kafka_2.13 is the broker (kafka.Kafka, kafka.tools.StorageTool); kafka-tools
  # has TopicCommand and BrokerApiVersionsCommand. connect-runtime is only for
  # its Connect plugin tool and drags in Jetty and Jersey: leave it out.
  cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.conveyor.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$version</version>
      <exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions>
    </dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  if ! mvn -B -q -f "$tmp/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
    tail -n 30 "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn could not resolve org.apache.kafka:kafka_2.13:$version (log above)"
  fi
  [[ -f $tmp/libs/kafka_2.13-$version.jar ]] || { rm -rf "$tmp"; die "mvn ran but kafka_2.13-$version.jar is missing"; }
  rm -rf "$home/libs"
  touch "$tmp/libs/.complete"
  mv "$tmp/libs" "$home/libs"
  rm -rf "$tmp"
  exec 8>&-
  log "fetched $(find "$home/libs" -name '*.jar' | wc -l) jars in $((SECONDS - start))s"
}

# A class-data sharing archive of the classes a broker loads halves a
# broker's startup (about 2.7 s instead of 4.6 s for one node here). It is
# tied to the exact JVM build, so it is named after it, and made once: by
# running a throwaway broker that dumps its classes when it exits.
cds_archive() { echo "$(home_of "$1")/cds/$JAVA_BUILD.jsa"; }

# Prints the archive's path if it maps cleanly; a truncated archive would
# crash every JVM that uses it (SIGBUS), so a bad one is removed.
cds_valid() {
  local archive=$1 libs=$2
  [[ -f $archive ]] || return 1
  if "$JAVA" -XX:SharedArchiveFile="$archive" -Xshare:on -cp "$libs/*" -version >/dev/null 2>&1; then
    echo "$archive"
  else
    log "removing unusable class-data archive $archive"
    rm -f "$archive"
    return 1
  fi
}

ensure_cds() {
  local version=$1 home archive tmp out dir
  [[ ${KAFKA_CDS:-1} == 1 ]] || return 0
  home=$(home_of "$version")
  archive=$(cds_archive "$version")
  # One try per Java build: a JVM that cannot dump would cost every `up` a
  # throwaway broker start.
  [[ -f $archive || -f $archive.failed ]] && return 0
  mkdir -p "$home/cds"
  exec 8>"$home/.lock"
  flock 8
  if [[ ! -f $archive && ! -f $archive.failed ]]; then
    log "making a class-data archive for faster broker starts (once per Java build)"
    tmp=$home/cds/tmp.$$.jsa
    # In a subshell, as a plain 1-node `up` whose broker dumps its classes at
    # exit; a generous grace so the dump is never cut short by SIGKILL.
    if out=$(KAFKA_CDS=0 KAFKA_JVM_EXTRA="-XX:ArchiveClassesAtExit=$tmp" STOP_GRACE=60 \
      cmd_up --version "$version" 8>&-); then
      dir=$(sed -n 's/^KAFKA_DIR=//p' <<<"$out")
      (STOP_GRACE=60 cmd_down --dir "$dir") || true
      if cds_valid "$tmp" "$home/libs" >/dev/null; then
        mv "$tmp" "$archive"
      else
        touch "$archive.failed"
        log "this JVM made no usable class-data archive; brokers start without one"
      fi
    fi
    # A broker that did not start is for the real `up` below to report.
    rm -f "$tmp"
  fi
  exec 8>&-
}

# ---------------------------------------------------------------- state

# DIR/state holds key=value lines (ours only, no quoting needed).
state_set() {
  local f=$1/state
  { grep -v "^$2=" "$f" 2>/dev/null || true; echo "$2=$3"; } >"$f.tmp"
  mv "$f.tmp" "$f"
}

resolve_dir() { state_dir "${1:-${KAFKA_DIR:-}}" KAFKA_DIR kafka.sh; }

# ---------------------------------------------------------------- processes

# A killed process stays a zombie until its reaper (often PID 1, since `up`
# has exited) collects it; count that as gone.
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z ]]
}

# True if pid is alive and is the JVM of this node (guards against pid reuse).
is_node_pid() {
  local pid=$1 props=$2
  [[ -n $pid ]] && alive "$pid" &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$props"
}

node_pid() {
  local dir=$1 n=$2 pid
  pid=$(state_get "$dir" "node.$n.pid")
  if is_node_pid "$pid" "$dir/node-$n/server.properties"; then echo "$pid"; fi
}

# Waits until none of the pids is alive; false on timeout.
wait_gone() {
  local deadline=$((SECONDS + $1)) p alive
  shift
  while :; do
    alive=0
    for p in "$@"; do alive "$p" && alive=1; done
    ((alive)) || return 0
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

start_node() {
  local dir=$1 n=$2 libs heap nodes cds
  libs=$(state_get "$dir" libs)
  nodes=$(state_get "$dir" nodes)
  if ((nodes == 1)); then heap="-Xmx512m -Xms256m"; else heap="-Xmx384m -Xms192m"; fi
  heap=${KAFKA_HEAP_OPTS:-$heap}
  cds=$(state_get "$dir" cds)
  # shellcheck disable=SC2086 # heap and KAFKA_JVM_EXTRA are lists of JVM flags
  "$JAVA" $heap "${BROKER_JVM[@]}" "${JVM_COMMON[@]}" ${cds:+-XX:SharedArchiveFile=$cds} ${KAFKA_JVM_EXTRA:-} \
    -Dkafka.logs.dir="$dir/node-$n" -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$dir/node-$n/server.properties" \
    </dev/null >"$dir/node-$n/stdout.log" 2>&1 &
  state_set "$dir" "node.$n.pid" "$!"
}

# Stops the given nodes: SIGTERM, then SIGKILL after the grace period.
stop_nodes() {
  local dir=$1 n pid pids=()
  shift
  for n in "$@"; do
    pid=$(node_pid "$dir" "$n")
    [[ -n $pid ]] && pids+=("$pid")
  done
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  if ! wait_gone "$STOP_GRACE" "${pids[@]}"; then
    log "node(s) still up after ${STOP_GRACE}s, sending SIGKILL"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait_gone 10 "${pids[@]}" || die "could not kill pids ${pids[*]}"
  fi
}

log_tails() {
  local dir=$1 n f
  for ((n = 1; n <= $(state_get "$dir" nodes); n++)); do
    for f in "$dir/node-$n/stdout.log" "$dir/node-$n/server.log"; do
      [[ -s $f ]] || continue
      echo "----- tail of $f" >&2
      grep -v '^\s*$' "$f" | tail -n 25 >&2
    done
  done
}

# ---------------------------------------------------------------- readiness

tool() {
  local dir=$1 class=$2 libs cds
  shift 2
  libs=$(state_get "$dir" libs)
  cds=$(state_get "$dir" cds)
  timeout 30 "$JAVA" "${TOOL_JVM[@]}" "${JVM_COMMON[@]}" ${cds:+"-XX:SharedArchiveFile=$cds"} \
    -Dlog4j2.configurationFile="$dir/tools-log4j2.properties" \
    -cp "$libs/*" "$class" "$@"
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Node ids that the cluster's metadata lists as live (unfenced) brokers.
live_broker_ids() {
  local dir=$1
  tool "$dir" org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$(state_get "$dir" brokers)" 2>/dev/null |
    sed -n 's/.*(id: \([0-9]*\) .*/\1/p' | sort -n | tr '\n' ' '
}

# Waits until every node listed in $2 is registered and unfenced. Fails early
# if a node's JVM exits; 2 on a port clash, so `up` can retry other ports.
wait_ready() {
  local dir=$1 want=$2 deadline=$((SECONDS + READY_TIMEOUT)) n ok got="" next_check=$((SECONDS + 5))
  while ((SECONDS < deadline)); do
    ok=1
    for n in $want; do
      if [[ -z $(node_pid "$dir" "$n") ]]; then
        if grep -qs 'Address already in use' "$dir/node-$n/server.log" "$dir/node-$n/stdout.log"; then return 2; fi
        log "node $n exited during startup"
        return 1
      fi
      tcp_open "$(state_get "$dir" "node.$n.port")" || ok=0
    done
    # A metadata check is a JVM start, which slows brokers that are still
    # starting on 2 cores: ask once each node has logged that it is up (or
    # every 5 s, in case a Kafka version words that line differently).
    if ((ok)); then
      for n in $want; do
        grep -qs 'Kafka Server started' "$dir/node-$n/server.log" || ok=0
      done
      if ((SECONDS >= next_check)); then ok=1; fi
    fi
    if ((ok)); then
      next_check=$((SECONDS + 5))
      [[ -n ${KAFKA_TRACE:-} ]] && log "metadata check at $SECONDS s"
      got=$(live_broker_ids "$dir" || true)
      ok=1
      for n in $want; do [[ " $got " == *" $n "* ]] || ok=0; done
      ((ok)) && return 0
    fi
    sleep 0.2
  done
  log "timed out after ${READY_TIMEOUT}s waiting for brokers [$want] (live: [${got% }])"
  return 1
}

# ---------------------------------------------------------------- up

free_ports() {
  if command -v python3 >/dev/null 2>&1; then
    # Hold all sockets open until every port is chosen, so none repeats.
    python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
  else
    # Below the kernel's ephemeral range, so outgoing connections cannot take them.
    local out=() p
    while ((${#out[@]} < $1)); do
      p=$((20000 + RANDOM % 12000))
      tcp_open "$p" || [[ " ${out[*]} " == *" $p "* ]] || out+=("$p")
    done
    echo "${out[*]}"
  fi
}

# Kafka cluster ids are 16 random bytes in URL-safe base64 without padding;
# Kafka never hands out one starting with '-' (it reads as a flag).
cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    [[ $id != -* ]] && { echo "$id"; return; }
  done
}

write_logging() {
  local dir=$1
  cat >"$dir/log4j2.properties" <<'EOF'
# Broker logs go to DIR/node-N/server.log, never the console.
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
  cat >"$dir/tools-log4j2.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = err
EOF
}

write_config() {
  local dir=$1 n=$2 nodes=$3 voters=$4 port=$5 cport=$6 rf isr
  if ((nodes == 1)); then rf=1 isr=1; else rf=3 isr=2; fi
  mkdir -p "$dir/node-$n/data"
  cat >"$dir/node-$n/server.properties" <<EOF
# Written by scripts/kafka.sh: node $n of a $nodes-node test cluster.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/node-$n/data
auto.create.topics.enable=true
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
# Crash tests use short consumer session timeouts so a killed runner's
# partitions move to its replacement within seconds (the default minimum is 6 s).
group.min.session.timeout.ms=1000
# Fewer internal partitions: the first consumer group and the first
# transaction create these topics, and 50 partitions x RF 3 is slow on 2 cores.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10
# Small machine, several brokers at once: fewer threads, and a 16 MiB log
# cleaner buffer instead of 128 MiB of a small heap.
num.network.threads=2
num.io.threads=4
background.threads=4
log.cleaner.dedupe.buffer.size=16777216
# Fence a killed broker after 6 s instead of 9 s so fault tests fail over sooner.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
# Drop a dead follower from the ISR after 10 s instead of 30 s, so acks=all
# writes (and consumer offset commits) stall for less during broker faults.
replica.lag.time.max.ms=10000
EOF
}

cmd_up() {
  local nodes=1 dir="" version=$DEFAULT_VERSION owner="" made_dir=0
  while (($#)); do
    case $1 in
      --nodes) nodes=${2:?--nodes needs a value}; shift 2 ;;
      --dir) dir=${2:?--dir needs a value}; shift 2 ;;
      --version) version=${2:?--version needs a value}; shift 2 ;;
      --owner-pid) owner=${2:?--owner-pid needs a value}; shift 2 ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  [[ $nodes == 1 || $nodes == 3 ]] || die "up: --nodes must be 1 or 3, not $nodes"
  need_java
  cmd_fetch "$version"
  ensure_cds "$version"
  local cds=""
  if [[ ${KAFKA_CDS:-1} == 1 ]]; then cds=$(cds_valid "$(cds_archive "$version")" "$(home_of "$version")/libs" || true); fi
  if [[ -z $dir ]]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/conveyor-kafka.XXXXXX")
    made_dir=1
  else
    if [[ -f $dir/state ]]; then
      for ((n = 1; n <= $(state_get "$dir" nodes); n++)); do
        [[ -z $(node_pid "$dir" "$n") ]] || die "up: $dir already runs a cluster (kafka.sh down --dir $dir first)"
      done
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
  fi
  local start=$SECONDS attempt n rc ports voters id
  local -a p
  id=$(cluster_id)
  # On failure, stop what was started; remove the dir only if we made it.
  trap 'stop_nodes "$dir" $(seq "$nodes") 2>/dev/null || true; ((made_dir)) && rm -rf "$dir"' EXIT
  trap 'exit 130' INT TERM
  for attempt in 1 2 3; do
    rm -rf "$dir"/node-* "$dir/state"
    read -r -a p <<<"$(free_ports $((2 * nodes)))"
    voters="" ports=""
    for ((n = 1; n <= nodes; n++)); do
      voters+="${voters:+,}$n@127.0.0.1:${p[2 * n - 1]}"
      ports+="${ports:+,}127.0.0.1:${p[2 * n - 2]}"
    done
    {
      echo "dir=$dir"
      echo "version=$version"
      echo "libs=$(home_of "$version")/libs"
      echo "nodes=$nodes"
      echo "cluster_id=$id"
      echo "cds=$cds"
      echo "brokers=$ports"
    } >"$dir/state"
    write_logging "$dir"
    local -a fmt=()
    for ((n = 1; n <= nodes; n++)); do
      state_set "$dir" "node.$n.port" "${p[2 * n - 2]}"
      state_set "$dir" "node.$n.controller_port" "${p[2 * n - 1]}"
      write_config "$dir" "$n" "$nodes" "$voters" "${p[2 * n - 2]}" "${p[2 * n - 1]}"
      # Formatting is a JVM start each: do the nodes in parallel.
      tool "$dir" kafka.tools.StorageTool format -t "$id" -c "$dir/node-$n/server.properties" \
        >"$dir/node-$n/format.log" 2>&1 &
      fmt+=($!)
    done
    for ((n = 1; n <= nodes; n++)); do
      wait "${fmt[n - 1]}" || { cat "$dir/node-$n/format.log" >&2; die "up: formatting node $n storage failed"; }
    done
    for ((n = 1; n <= nodes; n++)); do start_node "$dir" "$n"; done
    rc=0
    wait_ready "$dir" "$(seq -s ' ' "$nodes")" || rc=$?
    ((rc == 0)) && break
    stop_nodes "$dir" $(seq "$nodes")
    if ((rc == 2 && attempt < 3)); then
      log "port clash, retrying with other ports"
      continue
    fi
    log_tails "$dir"
    die "up: the $nodes-node cluster did not start (dir $dir$( ((made_dir)) && echo ', removed'))"
  done
  trap - EXIT INT TERM
  start_watch "$dir" "$owner"
  log "$nodes-node Kafka $version up in $((SECONDS - start))s"
  echo "KAFKA_DIR=$dir"
  echo "KAFKA_BROKERS=$(state_get "$dir" brokers)"
}

# ---------------------------------------------------------------- others

cmd_down() {
  local dir
  dir=$(down_dir "$@")
  stop_nodes "$dir" $(seq "$(state_get "$dir" nodes)")
  # Again, for a node that a concurrent start-node launched meanwhile.
  stop_nodes "$dir" $(seq "$(state_get "$dir" nodes)")
  rm -rf "$dir"
}

check_node() {
  local max
  max=$(state_get "$1" nodes)
  if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > max)); then
    die "no node '$2' in $1 (nodes are 1..$max)"
  fi
}

# parse_dir_args ARGS: as split_dir_args, with DIR resolved.
parse_dir_args() {
  split_dir_args "$@"
  DIR=$(resolve_dir "$DIR")
}

cmd_kill_node() {
  parse_dir_args "$@"
  ((${#ARGS[@]} == 1)) || die "usage: kill-node [--dir DIR] N"
  local n=${ARGS[0]} pid
  check_node "$DIR" "$n"
  pid=$(node_pid "$DIR" "$n")
  [[ -n $pid ]] || die "kill-node: node $n is not running"
  kill -KILL "$pid"
  wait_gone 10 "$pid" || die "kill-node: pid $pid survived SIGKILL"
  state_set "$DIR" "node.$n.pid" ""
  log "killed node $n (pid $pid)"
}

cmd_start_node() {
  parse_dir_args "$@"
  ((${#ARGS[@]} == 1)) || die "usage: start-node [--dir DIR] N"
  local n=${ARGS[0]} start=$SECONDS
  check_node "$DIR" "$n"
  [[ -z $(node_pid "$DIR" "$n") ]] || die "start-node: node $n is already running"
  need_java
  # Keep the previous run's log for post-mortems.
  [[ -f $DIR/node-$n/server.log ]] && mv "$DIR/node-$n/server.log" "$DIR/node-$n/server.log.1"
  start_node "$DIR" "$n"
  if ! wait_ready "$DIR" "$n"; then
    log_tails "$DIR"
    die "start-node: node $n did not rejoin (dir $DIR)"
  fi
  log "node $n back in $((SECONDS - start))s"
}

cmd_leader() {
  parse_dir_args "$@"
  ((${#ARGS[@]} == 2)) || die "usage: leader [--dir DIR] TOPIC PARTITION"
  local out leader
  out=$(tool "$DIR" org.apache.kafka.tools.TopicCommand --describe --topic "${ARGS[0]}" \
    --bootstrap-server "$(state_get "$DIR" brokers)") || die "leader: describe ${ARGS[0]} failed"
  leader=$(awk -v p="${ARGS[1]}" '{
      for (i = 1; i < NF; i++) {
        if ($i == "Partition:") part = $(i + 1)
        if ($i == "Leader:" && part == p) { print $(i + 1); exit }
      }
    }' <<<"$out")
  [[ -n $leader ]] || die "leader: no partition ${ARGS[1]} in topic ${ARGS[0]}"
  echo "$leader"
}

cmd_status() {
  parse_dir_args "$@"
  local n pid
  for ((n = 1; n <= $(state_get "$DIR" nodes); n++)); do
    pid=$(node_pid "$DIR" "$n")
    echo "node $n port $(state_get "$DIR" "node.$n.port") ${pid:+pid }${pid:-down}"
  done
  echo "live brokers: $(live_broker_ids "$DIR" || true)"
}


# Kafka's own tools from the cached jars, against any broker: the tests
# compare conveyor's view (lag, partitions) with Kafka's.
#   kafka.sh run-class CLASS|FILE.java [ARGS...]
cmd_run_class() {
  (($# >= 1)) || die "usage: run-class CLASS|FILE.java [ARGS...]"
  need_java
  cmd_fetch "$DEFAULT_VERSION"
  local conf
  conf=$(mktemp --suffix=.properties)
  trap 'rm -f "$conf"' RETURN
  printf '%s\n' 'status = warn' 'appender.err.type = Console' 'appender.err.name = err' \
    'appender.err.target = SYSTEM_ERR' 'appender.err.layout.type = PatternLayout' \
    'appender.err.layout.pattern = %p %m (%c)%n' 'rootLogger.level = WARN' 'rootLogger.appenderRef.err.ref = err' >"$conf"
  timeout 120 "$JAVA" "${TOOL_JVM[@]}" "${JVM_COMMON[@]}" -Dlog4j2.configurationFile="$conf" \
    -cp "$(home_of "$DEFAULT_VERSION")/libs/*" "$@"
}

case ${1:-} in
  fetch) shift; cmd_fetch "$@" ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  kill-node) shift; cmd_kill_node "$@" ;;
  start-node) shift; cmd_start_node "$@" ;;
  leader) shift; cmd_leader "$@" ;;
  status) shift; cmd_status "$@" ;;
  run-class) shift; cmd_run_class "$@" ;;
  _watch) shift; cmd_watch "$@" ;;
  *) usage ;;
esac
