# Two entry points: `make demo` and `make test`. Each (re)builds .venv from
# pyproject.toml when that file is newer than the last install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean docs docs-serve

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m oss_resumable_fs.demo

test: $(STAMP)
	$(BIN)/ruff check oss_resumable_fs tests benchmarks notebooks docs/hooks
	$(BIN)/ruff format --check oss_resumable_fs tests benchmarks notebooks docs/hooks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check oss_resumable_fs tests benchmarks notebooks docs/hooks
	$(BIN)/ruff format --check oss_resumable_fs tests benchmarks notebooks docs/hooks

# The documentation site (mkdocs.yml, docs/) into site/; strict: any warning (a broken
# link or reference, an undocumented option) fails. tests/docs/ runs its samples.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# Every scenario at full size (about 35 min on 2 cores, with the scaling curves):
# writes docs/benchmarks.md, docs/benchmarks/data/*.json and figures/*.png.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_peers.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache site
