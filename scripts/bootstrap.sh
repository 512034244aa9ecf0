#!/usr/bin/env bash
# Create .venv and install the pinned requirements when they changed since the last install.
# `scripts/bootstrap.sh` installs what runs (requirements.txt); `scripts/bootstrap.sh dev` adds the
# test and development tools (requirements-dev.txt). Needs only Python 3.11; on Debian it adds
# python3-venv from apt when ensurepip is missing. Prints a line per step, so a first run is not silent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
set_name=${1:-runtime}
case "$set_name" in
  runtime) file=requirements.txt ;;
  dev) file=requirements-dev.txt ;;
  *) echo "usage: scripts/bootstrap.sh [runtime|dev]" >&2; exit 2 ;;
esac
step() { echo "[setup] $*"; }
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    step "installing python3-venv from apt"
    SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  step "creating the virtual environment in .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements-$set_name.sha256
want=$(cat requirements.txt "$file" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  started=$SECONDS
  step "upgrading pip"
  log=$(mktemp)
  .venv/bin/python -m pip install --quiet --upgrade pip >"$log" 2>&1 || { cat "$log"; exit 1; }
  step "installing $(grep -cvE '^\s*(#|-r|$)' "$file") pinned packages from $file (about 30 s the first time)"
  .venv/bin/python -m pip install --quiet -r "$file" >"$log" 2>&1 || { cat "$log"; exit 1; }
  rm -f "$log"
  .venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check; exit 1; }
  step "installed in $((SECONDS - started)) s"
  echo "$want" > "$stamp"
fi
