# Every target sets itself up: a fresh machine needs only Python 3.10+ and make.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.drscale-installed
# A CPU wheel of this torch lies on the development machines; unpinned, pip would fetch a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: setup demo full joint regime lab test test-fast bench clean chromium

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m drscale suite

# Beyond the paper (after demo): three seeds per point, the embedding-dimension sweep, every fit again.
full: $(STAMP)
	$(PY) -m drscale suite --full

# The joint (N, D) grid, then the fits and budget allocation again with the joint law (after demo).
joint: $(STAMP)
	$(PY) -m drscale suite --joint

# The comparison of training regimes on dev that chose the demo's regime (about 40 minutes on two cores).
regime: $(STAMP)
	$(PY) -m drscale notebook 01_prepare_data
	$(PY) -m drscale suite --regime

# JupyterLab rooted at notebooks/, on this environment's python3 kernel; it prints the URL to open.
# Root (as in containers) needs --allow-root; LAB_ARGS passes more, e.g. LAB_ARGS="--no-browser --port=8899".
lab: $(STAMP)
	$(PY) -m jupyter lab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

# Tests run in TEST_PROCESSES pytest processes (pytest-xdist), a module's tests in one of them:
# much of a notebook or subprocess test is waiting, which another test fills.
TEST_PROCESSES ?= 2

test: $(STAMP) chromium
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --dist loadscope

# The everyday tier: everything but notebooks, subprocesses and pools (under two minutes).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -n $(TEST_PROCESSES) --dist loadscope

# Speed and memory against baselines in the same process, printed as tables and ratio lines.
bench: $(STAMP)
	set -e; for script in train train_options ce sweep fit retrieval dev_eval; do \
		echo "== benchmarks/bench_$$script.py"; $(PY) benchmarks/bench_$$script.py; done

# The browser test drives Debian's chromium: Playwright cannot download its own browsers offline.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) || echo "[drscale] apt-get could not install chromium: the browser test will be skipped"; \
	elif command -v apt-get >/dev/null && sudo -n true 2>/dev/null; then (sudo -n apt-get update -q && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) || echo "[drscale] apt-get could not install chromium: the browser test will be skipped"; \
	else echo "[drscale] /usr/bin/chromium missing and apt-get unusable (not Debian, or no root): the browser test will be skipped"; fi

clean:
	rm -rf data/runs data/executed figures/*.png
