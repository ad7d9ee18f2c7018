#!/usr/bin/env bash
# Makes, once, the Python venv of the interop tests' client
# (integration/testdata/interop/avro_client.py): confluent-kafka[avro] and
# its dependencies as pinned in integration/testdata/interop/requirements.txt,
# from PyPI, under the cache folder. Later runs are offline.
#
#   pyclient.sh
#
# Prints PYCLIENT=/path/to/venv/bin/python on stdout; everything else goes
# to stderr. PYTHON picks the interpreter the venv is made from (default
# python3; needs the venv module, Debian's python3-venv).
set -euo pipefail

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=scripts/lib.sh
source "$(dirname "$SELF")/lib.sh"
CACHE=${CONVEYOR_CACHE:-$HOME/.cache/conveyor}
REQ=$(dirname "$(dirname "$SELF")")/integration/testdata/interop/requirements.txt
PYTHON=${PYTHON:-python3}

(($# == 0)) || usage
[[ -f $REQ ]] || die "$REQ not found"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (scripts/ci-deps.sh installs python3)"
pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || die "$PYTHON does not run"
# One venv per interpreter version and requirements file: a changed pin
# gets a new venv instead of patching an old one.
venv=$CACHE/pyclient-py$pyver-$(sha256sum "$REQ" | cut -c1-12)

# usable: the venv is complete and its interpreter still runs (a venv links
# to the Python it was made from, which may have gone since).
usable() {
  [[ -f $venv/.complete ]] &&
    "$venv/bin/python" -c 'import confluent_kafka.schema_registry.avro, fastavro' >/dev/null 2>&1
}

if ! usable; then
  mkdir -p "$CACHE"
  # Parallel test binaries may get here at once: one builds, the others wait.
  exec 8>"$venv.lock"
  flock 8
  if ! usable; then
    start=$SECONDS
    log "making the interop client's venv in $venv (pip, from PyPI)"
    rm -rf "$venv"
    # The venv is not relocatable (scripts name their own path), so it is
    # made in place and only marked complete at the end.
    "$PYTHON" -m venv "$venv" >"$venv.log" 2>&1 || {
      tail -n 20 "$venv.log" >&2
      rm -rf "$venv"
      die "$PYTHON -m venv failed (on Debian: apt-get install python3-venv)"
    }
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$REQ" >>"$venv.log" 2>&1 || {
      tail -n 30 "$venv.log" >&2
      rm -rf "$venv"
      die "pip install -r $REQ failed (log above)"
    }
    touch "$venv/.complete"
    rm -f "$venv.log"
    log "venv ready in $((SECONDS - start))s"
  fi
  exec 8>&-
  usable || die "the venv in $venv does not import confluent_kafka"
fi
echo "PYCLIENT=$venv/bin/python"
