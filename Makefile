# The platform's commands. Each target calls a real script; the venv is made on demand.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS := store,chat,retrieval,gateway,dev
CHECKOV_VERSION := 3.3.30
AXE_VERSION := 4.14.1

.PHONY: install run test lint bench clean

# checkov pins packages (packaging<24, networkx<2.7) that clash with the project's,
# so it gets a venv of its own; tests/deploy finds it there.
CHECKOV_VENV := $(VENV)/tools/checkov

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $@

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'

# axe-core (npm) checks the web client's accessibility in the browser tests; they are
# skipped, saying so, where npm is missing.
AXE := $(VENV)/tools/axe-core/node_modules/axe-core/axe.min.js

$(AXE):
	@if command -v npm >/dev/null; then \
	  npm install --silent --no-audit --no-fund --prefix $(VENV)/tools/axe-core 'axe-core@$(AXE_VERSION)'; \
	else echo "npm not found: the accessibility tests will be skipped"; fi

run: install  ## start every service locally (embedded Postgres unless DATABASE_URL)
	$(PY) -m scripts.run

test: install $(CHECKOV_VENV)/bin/checkov $(AXE)  ## the whole suite against real Postgres and Redis
	$(PY) -m pytest

lint: install  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install  ## benchmarks; results also go to bench/results/latest.json
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
