# The two commands of the README:
#   make demo   set up .venv, build the engine, seed the demo city once, serve on the
#               embedded default
#   make test   set up .venv, lint and type-check, build the engine, run the whole test suite
# The embedded PostgreSQL (pgserver) publishes wheels for CPython 3.11 and 3.12: take
# the first of those found, or say so.
PYTHON ?= $(shell for p in python3 python3.12 python3.11; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null && { echo $$p; break; }; done)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: demo test install build browser-deps lint bench clean

$(STAMP): pyproject.toml setup.py
	@test -n "$(PYTHON)" || { echo "IMIAS needs Python 3.11 or 3.12 (python3.11 or python3.12 on PATH, or make PYTHON=...): its embedded PostgreSQL, pgserver, has no wheels for newer ones yet" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Compile the Cython engine in place (a no-op when it is up to date) and the pages'
# gettext catalogues (.po -> .mo; generated, not in git).
build: $(STAMP)
	$(BIN)/python setup.py --quiet build_ext --inplace
	$(BIN)/python -m imias.channels.web.i18n

# Seeds the demo city on the first start only; later starts keep what is there; starts
# the simulators of the outside systems (docs/deliveries.md) beside it, the SMS gateway
# and the SMTP sink among them: a patient's sign-in code arrives on the SMS simulator's
# page (http://127.0.0.1:8560/), as it would on her phone (docs/notifications.md).
demo: build
	$(BIN)/imias seed --if-empty
	$(BIN)/imias serve --with-simulators

# What the browser tests need besides .venv: Debian's Chromium (Playwright drives
# /usr/bin/chromium; no `playwright install`), installed with apt when it is missing and
# apt is there, and axe-core from npm in the gitignored node_modules.
AXE_CORE := node_modules/axe-core/axe.min.js
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser-deps: $(AXE_CORE)
	@if [ ! -x /usr/bin/chromium ]; then \
		if command -v apt-get >/dev/null 2>&1; then \
			$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; \
		else echo "the browser tests need Chromium at /usr/bin/chromium (Debian: apt-get install chromium)" >&2; fi; \
	fi

$(AXE_CORE):
	npm install --no-save --no-package-lock --no-audit --no-fund axe-core@4.14.1

test: lint build browser-deps
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

# ruff, then mypy --strict on imias, scheduler_core, ehr and prescriptions ([tool.mypy] in pyproject.toml); the
# checker sees the engine through its pure-Python reference, so no build is needed.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: build
	$(BIN)/imias bench core

clean:
	rm -rf build scheduler_core/*.c scheduler_core/*.so scheduler_core/*.html
