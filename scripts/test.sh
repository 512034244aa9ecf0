#!/usr/bin/env bash
# The whole test suite: ruff and the import layers, then every test on SQLite and again on PostgreSQL, with real Redis,
# real Celery worker processes and headless Chromium. Extra arguments go to pytest.
# Installs what is missing first (scripts/bootstrap.sh, scripts/services.sh). A pytest exit code
# of 5 ("no tests collected") is a failure like any other: the suite always has tests.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
scripts/bootstrap.sh dev
scripts/services.sh

export REDIS_URL=${WILDCAT_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
export WILDCAT_TEST_REDIS_URL=$REDIS_URL
export WILDCAT_SECRET_KEY=${WILDCAT_SECRET_KEY:-test-only-secret-key-0123456789abcdefghijklmnop}
export WILDCAT_DATA_DIR=${WILDCAT_TEST_DATA_DIR:-$PWD/data/test}
mkdir -p "$WILDCAT_DATA_DIR"

echo "== ruff"
.venv/bin/ruff check .

echo "== import layers (lint-imports, contracts in pyproject.toml)"
.venv/bin/lint-imports --no-cache

echo "== tests on SQLite"
DATABASE_URL= .venv/bin/python -m pytest "$@"

echo "== tests on PostgreSQL"
DATABASE_URL=${WILDCAT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres} \
  .venv/bin/python -m pytest "$@"

echo "== all tests passed on SQLite and PostgreSQL in $((SECONDS - started))s"
