# AniBridge: `make run` starts the stack, `make test` runs every test.
# Both install what is missing first (virtualenv, Python packages, ffmpeg/Redis
# from the system's package manager where we are allowed to).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: run test lint fmt demo bench lock system-deps test-deps clean help

help:
	@echo "make run    start web (gunicorn+gevent), Celery worker and beat; Redis if needed"
	@echo "make test   install what is missing and run the whole test suite (+ lint)"
	@echo "make lint   ruff (format + lint), mypy, makemigrations --check"
	@echo "make demo   the whole product offline: fake sites + stack, search -> grab -> play"
	@echo "make bench  run the benchmarks in bench/ and print their numbers"

# The runtime and dev environments are stamps inside the venv: they are rebuilt when
# the pinned requirement files change. URLLIB3_NO_OVERRIDE + --no-binary keeps the
# real urllib3 for requests/our proxy; aniworld's niquests gets urllib3-future under
# its own name (see README, "Dependencies"). --no-deps: the files pin every package,
# and leave out what a dependency declares but we never run (requirements/left-out.txt).
$(VENV)/.base: requirements/base.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing runtime packages into $(VENV) ..."
	@URLLIB3_NO_OVERRIDE=1 $(BIN)/pip install -q --disable-pip-version-check --no-deps \
		--no-binary urllib3-future -r requirements/base.txt 2>&1 | grep -v '^WARNING: Location' || true
	@$(PY) -c "import django, celery, urllib3, sys; sys.exit(0 if urllib3.__version__.startswith('2.8') else 'urllib3 was replaced by urllib3-future; rm -rf .venv and retry')"
	@touch $@

$(VENV)/.dev: $(VENV)/.base requirements/dev.txt
	@echo "installing test and lint packages into $(VENV) ..."
	@URLLIB3_NO_OVERRIDE=1 $(BIN)/pip install -q --disable-pip-version-check --no-deps \
		--no-binary urllib3-future -r requirements/dev.txt 2>&1 | grep -v '^WARNING: Location' || true
	@$(PY) -c "import pytest, pytest_django, ruff, mypy"
	@touch $@

system-deps:
	@bash scripts/system-deps.sh

# The above and what the browser playback test runs (chromium, caddy, npm).
test-deps:
	@bash scripts/system-deps.sh --tests

# hls.js for the browser playback test (tests/test_strm_browser.py), exactly as locked.
node_modules/.package-lock.json: package.json package-lock.json
	@echo "installing the browser test's JavaScript (npm ci) ..."
	@npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

run: $(VENV)/.base system-deps
	@$(PY) manage.py runstack

test: $(VENV)/.dev test-deps node_modules/.package-lock.json
	@bash scripts/test.sh

lint: $(VENV)/.dev
	@$(BIN)/ruff format --check .
	@$(BIN)/ruff check .
	@$(BIN)/mypy .
	@$(BIN)/hadolint docker/Dockerfile
	@$(PY) manage.py makemigrations --check --dry-run > /dev/null || \
		(echo "models changed without a migration: run '$(PY) manage.py makemigrations'"; exit 1)

fmt: $(VENV)/.dev
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

demo: $(VENV)/.dev system-deps
	@$(PY) scripts/demo.py

bench: $(VENV)/.dev system-deps
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lock:
	@bash scripts/lock.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
