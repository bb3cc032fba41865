# Two entry points on a fresh machine with only Python and pip:
#   make run    set up .venv (core + every plugin + faiss-cpu) and run the main job on digits
#   make test   the same set-up, then the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGIN ?= kmeans
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP := $(VENV)/.installed

.PHONY: install run test

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[faiss-cpu,dev,all]" $(addprefix -e ,$(PLUGIN_DIRS))
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/clust run --plugin $(PLUGIN) --dataset digits

test: $(STAMP)
	$(BIN)/python -m pytest -q
