# Two entry points: `make demo` and `make test`. Each (re)builds .venv from
# pyproject.toml when that file is newer than the last install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m oss_resumable_fs.demo

test: $(STAMP)
	$(BIN)/ruff check oss_resumable_fs tests benchmarks notebooks
	$(BIN)/ruff format --check oss_resumable_fs tests benchmarks notebooks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check oss_resumable_fs tests benchmarks notebooks
	$(BIN)/ruff format --check oss_resumable_fs tests benchmarks notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_get_file.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
