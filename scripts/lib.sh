# shellcheck shell=bash
# Helpers shared by kafka.sh, postgres.sh and mariadb.sh. Sourced after the
# script defines die and cmd_down; not run on its own.

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
