# Two commands are the whole set-up: `make book` and `make test` (each creates .venv/ if needed).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Silence TensorFlow's C++ logging in every recipe (builds, tests, notebooks they start).
export TF_ENABLE_ONEDNN_OPTS := 0
export TF_CPP_MIN_LOG_LEVEL := 3
# Use the course's offline data when it sits beside the checkout and nothing else was chosen.
ifeq ($(origin DLCOURSE_DATA), undefined)
ifneq ($(wildcard ../shared/data/mnist.npz),)
export DLCOURSE_DATA := $(abspath ../shared/data)
endif
endif

.PHONY: venv book test test-fast lint format assignments clean help

help:
	@echo "make book         build the HTML book into _build/html (executes every chapter, cached)"
	@echo "make test         run the whole test suite (lint, type check, unit tests, assignments, book checks)"
	@echo "make test-fast    the same without the tests marked slow (training, book build, sandboxed batches)"
	@echo "make assignments  regenerate assignments/ from solutions/"
	@echo "make lint         ruff check + format check + mypy"
	@echo "make clean        remove build folders (keeps .venv)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --path-output . --warningiserror --nitpick --keep-going
	@echo "Book built: _build/html/index.html"

# The suite checks the built book (pages, offline assets, a headless-browser render), so it builds it first
# (cached: an unchanged page is not re-executed). Its modules run on TEST_PROCESSES pytest processes (xdist,
# whole modules each, so a module's fixtures are built once): most tests wait on a subprocess, a sandbox or
# a browser, so one process alone keeps about one core busy. TEST_PROCESSES=0 runs them in this process.
TEST_PROCESSES ?= 2
XDIST := $(if $(filter 0,$(TEST_PROCESSES)),,-n $(TEST_PROCESSES) --dist loadfile)

test: lint book
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# For developers between commits: every test but those marked slow (see pyproject.toml's markers).
test-fast: lint book
	$(BIN)/python -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

# mypy reads its settings (packages, strictness) from pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Homeworks: every solutions/<name>/<name>.ipynb. `autograder release` runs nbgrader's generate_assignment
# with --no-db, so no gradebook is kept here.
HOMEWORKS := $(patsubst solutions/%/,%,$(sort $(dir $(wildcard solutions/*/*.ipynb))))

assignments: $(STAMP)
	@for name in $(HOMEWORKS); do \
	  $(BIN)/python -m autograder release "$$name" || exit 1; \
	done

clean:
	rm -rf _build .pytest_cache .ruff_cache
