#!/usr/bin/env bash
# Runs a throwaway PostgreSQL on loopback for tests: its own data folder,
# trust auth, a free port, no system service touched.
#
#   postgres.sh up [--dir DIR] [--owner-pid PID]
#   postgres.sh down [--dir DIR]       (DIR defaults to $PG_DIR)
#   postgres.sh restart [--dir DIR]    (crash stop, -m immediate, then start
#                                       again on the same port: fault tests)
#
# `up` prints PG_DIR=... and, last,
# CONVEYOR_PG_DSN=postgres://postgres@127.0.0.1:PORT/conveyor?sslmode=disable
# on stdout; everything else goes to stderr. initdb refuses root, so as root
# the server runs as the `postgres` OS user (created if missing). With
# --owner-pid, a watchdog runs `down` once that process is gone.
# PG_BIN overrides where initdb/pg_ctl/psql are looked for.
set -euo pipefail

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=scripts/lib.sh
source "$(dirname "$SELF")/lib.sh"
DB=conveyor

# The server binaries: pg_config's bindir when it has them (pg_config may come
# from a libpq of another major version), else the newest Debian install.
find_bin() {
  local d
  if [[ -n ${PG_BIN:-} ]]; then
    [[ -x $PG_BIN/initdb ]] || die "PG_BIN=$PG_BIN has no initdb"
    echo "$PG_BIN"
    return
  fi
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null || true)
    if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then echo "$d"; return; fi
  fi
  d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $d && -x $d/initdb ]] || die "no PostgreSQL server binaries (initdb, pg_ctl) found; install postgresql (scripts/ci-deps.sh)"
  echo "$d"
}

# Runs a command as the server's OS user: postgres when we are root.
as_pg() {
  if ((EUID == 0)); then
    # From / so the postgres user never trips over an unreadable cwd.
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}


resolve_dir() { state_dir "${1:-${PG_DIR:-}}" PG_DIR postgres.sh; }


pg_ctl_() {
  local dir=$1
  shift
  as_pg "$(state_get "$dir" bin)/pg_ctl" -D "$dir/data" "$@"
}

start() {
  local dir=$1
  # -w: return once the server accepts connections.
  pg_ctl_ "$dir" -l "$dir/postgres.log" -w -t 60 start >/dev/null
}

cmd_up() {
  local dir owner made_dir=0 bin port attempt start_s=$SECONDS
  parse_up_args "$@"
  dir=$DIR owner=$OWNER
  bin=$(find_bin)
  [[ -n $dir ]] || made_dir=1
  # errexit does not reach into command substitutions: exit by hand.
  dir=$(server_dir "$dir" pg postgres 25) || exit 1
  as_pg test -w "$dir" || die "up: the postgres user cannot write $dir (is a parent folder private?)"
  trap 'pg_ctl_ "$dir" -m immediate stop >/dev/null 2>&1 || true; ((made_dir)) && rm -rf "$dir"' EXIT
  trap 'exit 130' INT TERM
  as_pg mkdir "$dir/sock"
  # --no-sync: the folder is thrown away anyway; the server itself runs
  # with fsync on, so crash-restart tests see real durability.
  if ! as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C \
    --no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "up: initdb failed"
  fi
  as_pg tee "$dir/data/pg_hba.conf" >/dev/null <<'EOF'
# Written by scripts/postgres.sh: a throwaway test server, trust on loopback.
local all all trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128 trust
EOF
  for attempt in 1 2 3; do
    port=$(free_port)
    # postgresql.auto.conf overrides postgresql.conf and is ours alone.
    as_pg tee "$dir/data/postgresql.auto.conf" >/dev/null <<EOF
# Written by scripts/postgres.sh.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
fsync = on
shared_buffers = 64MB
max_connections = 200
logging_collector = off
EOF
    printf 'dir=%s\nbin=%s\nport=%s\n' "$dir" "$bin" "$port" >"$dir/state"
    if start "$dir"; then break; fi
    if ((attempt < 3)) && grep -q 'could not bind\|Address already in use' "$dir/postgres.log" 2>/dev/null; then
      log "port $port taken, retrying with another"
      : >"$dir/postgres.log"
      continue
    fi
    log_tail "$dir/postgres.log"
    die "up: the server did not start (folder $dir$( ((made_dir)) && echo ', removed'))"
  done
  if ! "$bin/psql" -X -q -h "$dir/sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE $DB" >/dev/null; then
    die "up: CREATE DATABASE $DB failed"
  fi
  trap - EXIT INT TERM
  start_watch "$dir" "$owner"
  log "PostgreSQL $("$bin/postgres" -V | awk '{print $3}') up in $((SECONDS - start_s))s on port $port"
  echo "PG_DIR=$dir"
  echo "CONVEYOR_PG_DSN=postgres://postgres@127.0.0.1:$port/$DB?sslmode=disable"
}

# The postmaster's pid, if it is running from this folder.
postmaster_pid() { serving_pid "$1" "$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null || true)"; }

cmd_down() {
  local dir pid
  dir=$(down_dir "$@")
  if [[ -n $(postmaster_pid "$dir") ]] && ! pg_ctl_ "$dir" -m fast -w -t 20 stop >/dev/null 2>&1; then
    pid=$(postmaster_pid "$dir")
    if [[ -n $pid ]]; then
      log "fast shutdown did not finish, killing postmaster $pid"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
    fi
  fi
  rm -rf "$dir"
}

cmd_restart() {
  local dir start_s=$SECONDS
  split_dir_args "$@"
  ((${#ARGS[@]} == 0)) || die "restart: unknown argument ${ARGS[0]}"
  dir=$(resolve_dir "$DIR")
  if [[ -n $(postmaster_pid "$dir") ]]; then
    # Immediate: no checkpoint, as after a crash; start runs recovery.
    pg_ctl_ "$dir" -m immediate -w -t 20 stop >/dev/null || die "restart: stop failed"
  fi
  if ! start "$dir"; then
    log_tail "$dir/postgres.log"
    die "restart: the server did not come back on port $(state_get "$dir" port)"
  fi
  log "restarted in $((SECONDS - start_s))s"
}


case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  _watch) shift; cmd_watch "$@" ;;
  *) usage ;;
esac
