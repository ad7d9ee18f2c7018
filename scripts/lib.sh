# shellcheck shell=bash
# Helpers shared by kafka.sh, postgres.sh and mariadb.sh. Sourced right
# after the script sets SELF; helpers call the script's own cmd_down and
# resolve_dir. Not run on its own.

die() { echo "${SELF##*/}: $*" >&2; exit 1; }
log() { echo "${SELF##*/}: $*" >&2; }

# usage prints the script's header comment.
usage() {
  sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

# state_get DIR KEY: a value from DIR/state (KEY=VALUE lines).
state_get() { awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$1/state"; }

# state_dir DIR VAR SCRIPT: the absolute folder a `SCRIPT up` made, from
# --dir or the environment variable VAR.
state_dir() {
  local d=$1 var=$2 script=$3
  [[ -n $d ]] || die "no folder: pass --dir DIR or set $var"
  [[ -f $d/state ]] || die "$d/state not found: not a folder made by $script up"
  (cd "$d" && pwd)
}

# free_port: a TCP port free on loopback now.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    # Below the kernel's ephemeral range, so outgoing connections cannot take it.
    local p
    while :; do
      p=$((20000 + RANDOM % 12000))
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
  fi
}

# cmd_watch DIR OWNER (the internal _watch command): runs `down` once the
# owner process (a test binary) is gone, so a crashed test leaks nothing.
cmd_watch() {
  local dir=$1 owner=$2
  while kill -0 "$owner" 2>/dev/null && [[ -f $dir/state ]]; do sleep 1; done
  [[ -f $dir/state ]] && cmd_down --dir "$dir"
}

# start_watch DIR OWNER: the watchdog (above) in the background, its pid
# kept in DIR/state so down can stop it. No owner, no watchdog.
start_watch() {
  [[ -n $2 ]] || return 0
  nohup "$BASH" "$SELF" _watch "$1" "$2" </dev/null >/dev/null 2>&1 &
  echo "watch.pid=$!" >>"$1/state"
}

# down_dir ARGS: the folder of a down command (--dir DIR, else the
# environment), with its watchdog stopped unless down runs from it.
down_dir() {
  local dir wpid
  split_dir_args "$@"
  ((${#ARGS[@]} == 0)) || die "down: unknown argument ${ARGS[0]}"
  # errexit does not reach into command substitutions: exit by hand.
  dir=$(resolve_dir "$DIR") || exit 1
  wpid=$(state_get "$dir" watch.pid)
  if [[ -n $wpid && $wpid != "$$" ]] && tr '\0' ' ' <"/proc/$wpid/cmdline" 2>/dev/null | grep -qF "_watch $dir"; then
    kill "$wpid" 2>/dev/null || true
  fi
  echo "$dir"
}

# ensure_os_user NAME: as root, the system user a server runs as (created
# if missing); servers refuse to run as root.
ensure_os_user() {
  ((EUID == 0)) || return 0
  id -u "$1" >/dev/null 2>&1 && return 0
  log "creating the $1 OS user"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$1" || die "could not create the $1 OS user"
}

# server_dir DIR PREFIX OSUSER SOCKET_LEN: the absolute, private folder of a
# database's `up`, owned by OSUSER when we are root (the user is created if
# missing): DIR (made if missing, refused if it already has a server), or a
# new temporary conveyor-PREFIX.XXXXXX when DIR is empty. SOCKET_LEN is how
# much the server's socket path adds to the folder's: it must fit in
# sun_path (107 bytes).
server_dir() {
  local dir=$1 prefix=$2 user=$3 socket_len=$4
  # Called as $(server_dir ...), where errexit is off: every step exits by hand.
  ensure_os_user "$user"
  if [[ -z $dir ]]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/conveyor-$prefix.XXXXXX") || exit 1
  else
    [[ ! -e $dir/state ]] || die "up: $dir already has a server (${SELF##*/} down --dir $dir first)"
    mkdir -p "$dir" || exit 1
    dir=$(cd "$dir" && pwd) || exit 1
  fi
  ((${#dir} + socket_len < 107)) || die "up: folder path too long for a unix socket: $dir"
  if ((EUID == 0)); then chown "$user": "$dir" || exit 1; fi
  chmod 700 "$dir" || exit 1
  echo "$dir"
}

# serving_pid DIR PID: prints PID if that process is alive and runs from
# DIR/data, so a stale pid file never makes us signal a stranger.
serving_pid() {
  local dir=$1 pid=$2
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/data" && echo "$pid"
  return 0
}

# log_tail FILE: the end of a server's log, for a failed start.
log_tail() {
  echo "----- tail of $1" >&2
  tail -n 20 "$1" >&2 2>/dev/null || true
}

# split_dir_args ARGS: [--dir DIR] plus positional args into the globals
# DIR (as given, maybe empty) and ARGS.
split_dir_args() {
  DIR="" ARGS=()
  while (($#)); do
    case $1 in
      --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
      *) ARGS+=("$1"); shift ;;
    esac
  done
}

# parse_up_args ARGS: a database's `up [--dir DIR] [--owner-pid PID]` into
# the globals DIR and OWNER (empty when not given).
parse_up_args() {
  DIR="" OWNER=""
  while (($#)); do
    case $1 in
      --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
      --owner-pid) OWNER=${2:?--owner-pid needs a value}; shift 2 ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
}
