# Quick start:  make demo   (sets up .venv, simulates the default district, diagnoses a month, the year's overview)
#               make test   (sets up .venv, runs the whole test suite)
PYTHON ?= $(shell command -v python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := var/demo
DEMO_PERIOD := 2025-12
DEMO_FROM := 2025-01
DEMO_BRANCH := B00002
DEMO_OVERVIEW := var/overview.html
# Test processes side by side (pytest-xdist; a module's tests stay in one, sharing its fixtures). 0: one process.
# Three on two cores: a fifth of the suite waits on servers, subprocesses and databases, and a third process
# fills those waits (pytest 426-430 s with 2, 348-359 s with 3 or 4, back to back on 2026-12-05).
TEST_WORKERS ?= 3

.PHONY: venv demo test test-fast lint bench clean

# pip compiles what it installs one file at a time (42 of the install's 90 s); compileall does the same on
# every core (28 s on 2). Left to the first import (pip --no-compile alone), it moved into the tests.
$(STAMP): requirements.txt requirements-dev.txt setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (durable-rules does not build on 3.13); set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile -r requirements-dev.txt
	-$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null  # as pip, a file that does not compile is left
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@rm -f $(DEMO_DIR)/overview.html  # where an earlier demo wrote it: simulate replaces only a data directory
	$(BIN)/diagnosis-service simulate --out $(DEMO_DIR)
	$(BIN)/diagnosis-service diagnose --data $(DEMO_DIR) --period $(DEMO_PERIOD)
	@echo
	$(BIN)/diagnosis-service report --data $(DEMO_DIR) --period $(DEMO_PERIOD) --branch $(DEMO_BRANCH)
	@echo
	$(BIN)/diagnosis-service overview --data $(DEMO_DIR) --from $(DEMO_FROM) --to $(DEMO_PERIOD) --out $(DEMO_OVERVIEW) --out $(DEMO_OVERVIEW:.html=.txt)
	@sed -n '1,10p' $(DEMO_OVERVIEW:.html=.txt)
	@echo "... the whole overview (chart, heat map, streets, branches red 2+ months): $(DEMO_OVERVIEW)"

test: $(STAMP)
	$(BIN)/ruff check diagnosis_service tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/diagnosis-service rules check
	$(BIN)/diagnosis-service rules test
	$(BIN)/diagnosis-service catalog check
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# The inner loop: lint, layers and the tests without PostgreSQL, real servers or closed loops (about a third of test's time).
test-fast: $(STAMP)
	$(BIN)/ruff check diagnosis_service tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder -m "not postgresql and not server and not slow"

lint: $(STAMP)
	$(BIN)/ruff check diagnosis_service tests benchmarks
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_diagnose.py
	$(BIN)/python benchmarks/bench_engines.py
	$(BIN)/python benchmarks/bench_service.py --db both
	$(BIN)/python benchmarks/bench_effectiveness.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis *.egg-info
