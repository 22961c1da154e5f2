# Every target sets itself up: a fresh machine needs only Python 3.10+ and make.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.drscale-installed
# A CPU wheel of this torch lies on the development machines; unpinned, pip would fetch a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m drscale.suite

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf data/runs data/executed figures/*.png
