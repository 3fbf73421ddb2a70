# chatbench: the one entry point, for people and for CI (.ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
VENV_MIN ?= .venv-min
MIN_STAMP := $(VENV_MIN)/.installed-stamp
PYTEST_ARGS ?=
# Tests mostly wait on sockets and servers: four workers (pytest-xdist) finish in a third of the time.
TEST_WORKERS ?= 4

.PHONY: install demo test test-fast test-min-deps lint format bench bench-quick redis browser clean

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

# The browser test drives Debian's Chromium; install it when missing (CI=true requires it).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and chromium-driver"; \
	    (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null)); \
	  else \
	    echo "chromium not found: apt-get install chromium chromium-driver for the browser test"; \
	  fi; }

demo: install
	$(PY) -m harness.cli demo

test: install redis browser
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

# The dependency floors of pyproject.toml, proven: a venv of its own with the oldest allowed
# releases (constraints-min.txt) runs the tests that exercise websockets, uvicorn and fastapi.
$(MIN_STAMP): pyproject.toml constraints-min.txt
	@test -x $(VENV_MIN)/bin/python || python3 -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install -q --upgrade pip
	$(VENV_MIN)/bin/python -m pip install -q -c constraints-min.txt -e '.[dev]'
	@touch $(MIN_STAMP)

test-min-deps: $(MIN_STAMP)
	@$(VENV_MIN)/bin/python -m pip list --format=freeze 2>/dev/null | grep -i -E '^(websockets|uvicorn|fastapi|pydantic|orjson)=='
	$(VENV_MIN)/bin/python -m pytest -n $(TEST_WORKERS) tests/protocol tests/check tests/reference_server $(PYTEST_ARGS)

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
	rm -rf $(VENV) $(VENV_MIN) build *.egg-info .mypy_cache .ruff_cache
