# chatbench: the one entry point, for people and for CI (.ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-fast lint format bench bench-quick redis clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Tests that need Redis start their own redis-server on a free port; install it when missing.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server"; \
	    (apt-get install -y -q redis-server >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null)); \
	  else \
	    echo "redis-server not found: install it (apt-get install redis-server, brew install redis) for the Redis tests"; \
	  fi; }

demo: install
	$(PY) -m harness.cli demo

test: install redis
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy harness reference_server scenarios reports bench

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install redis
	$(PY) bench/run.py

bench-quick: install redis
	$(PY) bench/run.py --quick

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
