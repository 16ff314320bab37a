# Two entry points for a fresh machine: `make demo` and `make test`. Both create or refresh .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3.11
# pip warns once per package about the machine's optional local index folders; keep the log readable
QUIET_PIP := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint format bench lock clean

venv: $(STAMP)

# Idempotent: reinstalls only when the lock or the project metadata changed.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" $(QUIET_PIP)
	# torch first, from the CPU wheel (the lock leaves it out so nothing pulls a CUDA build)
	$(BIN)/python -m pip install --quiet "torch==2.13.0" $(QUIET_PIP)
	# the lock is complete and pinned, so no resolver run is needed
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . $(QUIET_PIP)
	touch $(STAMP)

demo: venv
	$(BIN)/echojepa demo

test: venv lint
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/python -m benchmarks

lock:
	./scripts/compile_lock.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
