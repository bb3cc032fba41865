# Two entry points on a fresh machine with only Python and pip:
#   make run    set up .venv (core + every plugin + faiss-cpu), then SPICE-Self beside k-means and
#               pixel agglomeration on digits (clust bench)
#   make test   the same set-up, then the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGIN ?=
MAIN ?= kmeans,jule-pixels,spice-self
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP := $(VENV)/.installed

.PHONY: install run test

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[faiss-cpu,dev,all]" $(addprefix -e ,$(PLUGIN_DIRS))
	touch $(STAMP)

install: $(STAMP)

# The main job: a deep recipe beside the two pixel baselines on digits, one seed, one table (clust bench).
# make run PLUGIN=<name> runs one recipe instead.
run: $(STAMP)
ifeq ($(PLUGIN),)
	$(BIN)/clust bench --plugins $(MAIN) --datasets digits --seeds 1 --out runs/main-$$(date +%Y%m%d-%H%M%S)
else
	$(BIN)/clust run --plugin $(PLUGIN) --dataset digits
endif

test: $(STAMP)
	$(BIN)/python -m pytest -q
