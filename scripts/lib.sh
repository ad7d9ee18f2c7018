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
# kept in DIR/state so down can stop it.
start_watch() {
  nohup "$BASH" "$SELF" _watch "$1" "$2" </dev/null >/dev/null 2>&1 &
  echo "watch.pid=$!" >>"$1/state"
}

# down_dir ARGS: the folder of a down command (--dir DIR, else the
# environment), with its watchdog stopped unless down runs from it.
down_dir() {
  local dir="" wpid
  while (($#)); do
    case $1 in
      --dir) dir=${2:?--dir needs a value}; shift 2 ;;
      *) die "down: unknown argument $1" ;;
    esac
  done
  # errexit does not reach into command substitutions: exit by hand.
  dir=$(resolve_dir "$dir") || exit 1
  wpid=$(state_get "$dir" watch.pid)
  if [[ -n $wpid && $wpid != "$$" ]] && tr '\0' ' ' <"/proc/$wpid/cmdline" 2>/dev/null | grep -qF "_watch $dir"; then
    kill "$wpid" 2>/dev/null || true
  fi
  echo "$dir"
}
