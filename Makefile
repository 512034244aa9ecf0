.PHONY: run test lint bench soak fuzz-long

run:  ## Run Wildcat on its embedded defaults: web + admin + API, Celery worker and beat.
	scripts/run.sh

test:  ## Run the whole test suite (installs and starts Redis, PostgreSQL and Chromium when missing).
	scripts/test.sh

lint:  ## ruff and the import layers (lint-imports).
	.venv/bin/ruff check . && .venv/bin/lint-imports --no-cache

bench:  ## Run every benchmark in bench/ and print the ratios.
	scripts/bootstrap.sh dev && scripts/services.sh && .venv/bin/python -m bench

soak:  ## Faults together (about 20 min): private PostgreSQL + Redis, 50 sandbox connections, workers killed, services restarted.
	scripts/bootstrap.sh dev && scripts/services.sh && .venv/bin/python -m bench.soak $${SOAK_ARGS:-}

fuzz-long:  ## Long schemathesis run over /api/schema/ (EXAMPLES per operation, default 300) on SQLite and PostgreSQL.
	WILDCAT_TEST_FUZZ_EXAMPLES=$${EXAMPLES:-300} scripts/test.sh tests/security/test_fuzz.py -s
