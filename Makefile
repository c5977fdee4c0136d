# The platform's commands. Each target calls a real script; the venv is made on demand.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS := store,chat,retrieval,gateway,dev

.PHONY: install run test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $@

run: install  ## start every service locally (embedded Postgres unless DATABASE_URL)
	$(PY) -m scripts.run

test: install  ## the whole test suite against real Postgres and Redis
	$(PY) -m pytest

lint: install  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install  ## benchmarks; results also go to bench/results/latest.json
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
