# dangjian-map: everything a fresh machine needs, from the project's own files.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup system-deps serve demo test bench demo-data clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Debian packages: Chromium for the browser test, a CJK font for report maps.
system-deps:
	@bash scripts/system-deps.sh

# The main job: build the bundled demo district and serve its map on http://127.0.0.1:8000
serve: setup
	$(BIN)/dangjian serve

# Build the demo district and print the coverage summary.
demo: setup
	$(BIN)/dangjian build

test: setup system-deps
	$(BIN)/ruff check geo layers api tests bench scripts
	$(BIN)/mypy geo layers
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/bench_network.py

demo-data: setup
	$(BIN)/python scripts/make_demo_district.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
