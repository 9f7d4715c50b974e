# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install run test test-postgres lint format bench fuzz upgrade clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## Start the SP on 127.0.0.1:5000 and the development IdP on 127.0.0.1:5001 (SQLite under instance/).
run: install
	$(BIN)/python scripts/dev_stack.py

## Run the whole test suite (SQLite; set TEST_DATABASE_URL for PostgreSQL).
test: install
	$(BIN)/python -m pytest -W error -q -p no:cacheprovider tests $(PYTEST_ARGS)

## The suite again on PostgreSQL.
test-postgres: install
	TEST_DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest -W error -q -p no:cacheprovider tests $(PYTEST_ARGS)

## ruff (lint, and the format check) on the whole tree, mypy on sp/; CI runs it before the tests.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Format the tree with ruff (what `make lint` checks).
format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks, side by side in one run (not part of make test).
bench: install
	$(BIN)/python bench/run.py

## Fuzz the ACS, the SLS and the IdP metadata importer for FUZZ_SECONDS (default 90): no input may cause a 5xx or a crash.
FUZZ_SECONDS ?= 90
fuzz: install
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python -m pytest -W error -q -p no:cacheprovider tests/security/fuzz_long.py $(PYTEST_ARGS)

## Apply migrations to DATABASE_URL (default: instance/sp.sqlite3).
upgrade: install
	$(BIN)/flask --app wsgi db upgrade

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
