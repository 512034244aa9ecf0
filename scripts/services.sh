#!/usr/bin/env bash
# Make sure what the tests and benchmarks use is installed and running on a fresh Debian machine:
# Redis, PostgreSQL, Debian's Chromium with its driver (browser tests) and wrk (benchmarks).
# Installs from apt when missing; starts PostgreSQL and Redis when stopped. Idempotent.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing from apt: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "starting PostgreSQL"
  if [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    # The package normally creates the "main" cluster; make one if it did not.
    $SUDO pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -n 1)" main >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  # The tests connect as postgres over TCP on loopback without a password.
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! $SUDO grep -qE '^host\s+all\s+all\s+127.0.0.1/32\s+trust' "$hba"; then
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi

for _ in $(seq 1 60); do
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q; then
    exit 0
  fi
  sleep 1
done
echo "services did not come up: Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 are required" >&2
exit 1
