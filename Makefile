# The two set-up commands (README): `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export EJOURNAL_DATABASE_URL ?= sqlite:///var/ejournal.sqlite3
export EJOURNAL_KEY_DIR ?= var/keys
export EJOURNAL_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test fuzz bench lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

## Create the environment, load the demo on SQLite, serve on http://127.0.0.1:$(PORT)
run: $(VENV)/.installed
	$(VENV)/bin/ejournal init
	$(VENV)/bin/ejournal demo
	$(VENV)/bin/ejournal serve --host 127.0.0.1 --port $(PORT)

## Lint, import contracts, and every test (SQLite and PostgreSQL)
test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

## Schemathesis against a live demo deployment (SQLite, temporary): no 5xx, every response
## as documented; as the director and as a teacher (tools/fuzz_api.py)
fuzz: $(VENV)/.installed
	$(PY) tools/fuzz_api.py

## Throughput figures against raw PostgreSQL and raw crypto (not a test)
bench: $(VENV)/.installed
	$(PY) -m benchmarks.run

clean:
	rm -rf var .pytest_cache .ruff_cache
