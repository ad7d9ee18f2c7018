#!/usr/bin/env bash
# Runs a throwaway MariaDB (or MySQL) server on loopback for tests: its own
# data folder, root without a password, a free port, no system service
# touched.
#
#   mariadb.sh up [--dir DIR] [--owner-pid PID]
#   mariadb.sh down [--dir DIR]       (DIR defaults to $MYSQL_DIR)
#
# `up` prints MYSQL_DIR=... and, last,
# CONVEYOR_MYSQL_DSN='root@tcp(127.0.0.1:PORT)/conveyor' (quoted for eval)
# on stdout; everything else goes to stderr. As root the server runs as the
# `mysql` OS user (created if missing). With --owner-pid, a watchdog runs
# `down` once that process is gone. Needs mariadb-server (apt-get install
# mariadb-server); MYSQL_BIN overrides where the binaries are looked for.
set -euo pipefail

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=scripts/lib.sh
source "$(dirname "$SELF")/lib.sh"
DB=conveyor

# The first of the names found in MYSQL_BIN, the PATH or /usr/sbin.
find_bin() {
  local name d
  for name in "$@"; do
    for d in ${MYSQL_BIN:-} /usr/sbin /usr/bin /usr/local/bin; do
      [[ -x $d/$name ]] && { echo "$d/$name"; return; }
    done
    command -v "$name" 2>/dev/null && return
  done
  die "none of $* found; install mariadb-server"
}

user_args() { ((EUID == 0)) && echo "--user=mysql" || true; }


resolve_dir() { state_dir "${1:-${MYSQL_DIR:-}}" MYSQL_DIR mariadb.sh; }


# The server's pid, if it is running from this folder.
server_pid() { serving_pid "$1" "$(cat "$1/server.pid" 2>/dev/null || true)"; }

stop_server() {
  local dir=$1 pid i
  pid=$(server_pid "$dir")
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "server $pid did not stop in 20s, killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_up() {
  local dir owner made_dir=0 server install admin client port attempt i start_s=$SECONDS
  parse_up_args "$@"
  dir=$DIR owner=$OWNER
  server=$(find_bin mariadbd mysqld)
  install=$(find_bin mariadb-install-db mysql_install_db)
  admin=$(find_bin mariadb-admin mysqladmin)
  client=$(find_bin mariadb mysql)
  [[ -n $dir ]] || made_dir=1
  # errexit does not reach into command substitutions: exit by hand.
  dir=$(server_dir "$dir" mariadb mysql 10) || exit 1
  trap 'stop_server "$dir"; ((made_dir)) && rm -rf "$dir"' EXIT
  trap 'exit 130' INT TERM
  # root@localhost and root@127.0.0.1 without a password: a test server.
  if ! "$install" --no-defaults $(user_args) --datadir="$dir/data" \
    --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1; then
    cat "$dir/install.log" >&2
    die "up: $install failed"
  fi
  for attempt in 1 2 3; do
    port=$(free_port)
    printf 'dir=%s\nport=%s\n' "$dir" "$port" >"$dir/state"
    : >"$dir/server.log"
    ((EUID == 0)) && chown mysql: "$dir/server.log"
    # setsid: the server outlives this script and ignores its terminal.
    setsid "$server" --no-defaults $(user_args) --datadir="$dir/data" --socket="$dir/sock" \
      --port="$port" --bind-address=127.0.0.1 --pid-file="$dir/server.pid" \
      --log-error="$dir/server.log" --skip-name-resolve --innodb-buffer-pool-size=64M \
      --max-connections=200 </dev/null >/dev/null 2>&1 &
    for ((i = 0; i < 600; i++)); do
      "$admin" --no-defaults --socket="$dir/sock" -uroot ping >/dev/null 2>&1 && break
      grep -q 'Aborting' "$dir/server.log" 2>/dev/null && break
      sleep 0.1
    done
    if "$admin" --no-defaults --socket="$dir/sock" -uroot ping >/dev/null 2>&1; then break; fi
    stop_server "$dir"
    if ((attempt < 3)) && grep -q 'Address already in use\|Can.t start server' "$dir/server.log" 2>/dev/null; then
      log "port $port taken, retrying with another"
      continue
    fi
    log_tail "$dir/server.log"
    die "up: the server did not start (folder $dir$( ((made_dir)) && echo ', removed'))"
  done
  "$client" --no-defaults --socket="$dir/sock" -uroot -e "CREATE DATABASE $DB" ||
    die "up: CREATE DATABASE $DB failed"
  trap - EXIT INT TERM
  start_watch "$dir" "$owner"
  log "$("$server" --version | awk '{print $3}') up in $((SECONDS - start_s))s on port $port"
  echo "MYSQL_DIR=$dir"
  # Quoted: the parentheses would trip eval.
  echo "CONVEYOR_MYSQL_DSN='root@tcp(127.0.0.1:$port)/$DB'"
}

cmd_down() {
  local dir
  dir=$(down_dir "$@")
  stop_server "$dir"
  rm -rf "$dir"
}


case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  _watch) shift; cmd_watch "$@" ;;
  *) usage ;;
esac
