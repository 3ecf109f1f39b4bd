# The two commands of the README:
#   make demo   set up .venv, build the engine, seed the demo city once, serve on the
#               embedded default
#   make test   set up .venv, build the engine, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: demo test install build lint bench clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Compile the Cython engine in place (a no-op when it is up to date).
build: $(STAMP)
	$(BIN)/python setup.py --quiet build_ext --inplace

# Seeds the demo city on the first start only; later starts keep what is there.
demo: build
	$(BIN)/imias seed --if-empty
	$(BIN)/imias serve

test: build
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: build
	$(BIN)/imias bench core

clean:
	rm -rf build scheduler_core/*.c scheduler_core/*.so scheduler_core/*.html
