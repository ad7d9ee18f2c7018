#!/usr/bin/env bash
# Installs, with apt-get, what the integration tests need and this machine
# lacks: a Java 17+ runtime, Maven (fetches Kafka, the schema registry and
# OpenSearch once), the PostgreSQL server, MariaDB, kcat, python3 and its
# venv module, and chromium (the console's browser tests drive it headless).
# Then prefetches into the cache what the first test would otherwise wait
# for: the schema registry (scripts/registry.sh fetch), the OpenSearch test
# node (scripts/opensearch.sh fetch) and the Python interop client's venv
# (scripts/pyclient.sh). Quiet when nothing is missing; exits non-zero if an
# install or a prefetch fails. Runs as root (CI does).
set -euo pipefail

die() { echo "ci-deps.sh: $*" >&2; exit 1; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
((EUID == 0)) || die "run as root (apt-get install)"

java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local v
  v=$(java -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')
  [[ ${v%%.*} =~ ^[0-9]+$ ]] && ((${v%%.*} >= 17))
}

pg_ok() {
  local d
  d=$(pg_config --bindir 2>/dev/null || true)
  [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]] && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

missing=()
# Kafka 4.x brokers need Java 17+; Debian 12's default runtime is 17.
java_ok || missing+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
pg_ok || missing+=(postgresql)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
# MariaDB for the SQL connectors' MySQL dialect tests (scripts/mariadb.sh).
[[ -x /usr/sbin/mariadbd || -x /usr/sbin/mysqld ]] || command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# `python3 -m venv` needs ensurepip, which Debian ships apart (python3-venv).
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
# Debian's chromium for the console's browser tests (chromedp, headless);
# fonts so that screenshots show text.
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)

prefetch() {
  "$HERE/registry.sh" fetch || die "prefetching the schema registry failed"
  "$HERE/opensearch.sh" fetch || die "building the OpenSearch test node failed"
  "$HERE/pyclient.sh" >/dev/null || die "making the Python interop client's venv failed"
}

if ((${#missing[@]} == 0)); then
  prefetch
  exit 0
fi

echo "ci-deps.sh: installing ${missing[*]}" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  die "apt-get install ${missing[*]} failed"
fi
java_ok || die "java 17+ still missing after install"
pg_ok || die "PostgreSQL server binaries still missing after install"
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || die "python3's venv module still missing after install"
command -v chromium >/dev/null 2>&1 || die "chromium still missing after install"
prefetch
