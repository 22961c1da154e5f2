"""Notebook 06 served by Voila and driven in a real browser: the budget slider moves the optimum.

Chromium is Debian's (`make test` installs it where apt-get is usable); Playwright cannot
download browsers here. Every request off 127.0.0.1 is aborted, so the test needs no network.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from drscale import suite
from drscale.budget import cost
from drscale.fit import published
from browser import CHROMIUM, CHROMIUM_ARGS, free_port, move_budget_slider, n_star, needs_chromium, only_local, stop

RENDER_TIMEOUT_MS = 120_000


def wait_for_port(port: int, server: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"voila exited with {server.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"voila did not listen on port {port} within {timeout_s} s:\n{log.read_text()}")


@pytest.mark.notebook
@needs_chromium
@pytest.mark.slow
def test_moving_the_budget_slider_moves_the_optimum(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    served = nbformat.read(suite.notebook_path("06_budget_allocation"), as_version=4)
    parameters = next(cell for cell in served.cells if "parameters" in cell.metadata.get("tags", []))
    # Voila takes no parameters: the served copy's defaults point the study into tmp_path
    for name, path in (("data_dir", tmp_path / "data"), ("figures_dir", tmp_path / "figures")):
        assert f"{name} = None" in parameters.source, name
        parameters.source = parameters.source.replace(f"{name} = None", f"{name} = {str(path)!r}")
    nbformat.write(served, notebooks / "06_budget_allocation.ipynb")
    port, log = free_port(), tmp_path / "voila.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "voila", "06_budget_allocation.ipynb", f"--port={port}", "--no-browser",
             "--Voila.ip=127.0.0.1", "--show_tracebacks=True"],
            cwd=notebooks, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_port(port, server, log)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1300, "height": 1800})
                page.route("**/*", only_local)
                page.goto(f"http://127.0.0.1:{port}/", timeout=RENDER_TIMEOUT_MS)
                before, after, budget = move_budget_slider(page, RENDER_TIMEOUT_MS, tmp_path / "budget_panel_browser.png")
                assert "Budget 100,000 USD" in before
            finally:
                browser.close()
    finally:
        stop(server)

    expected = cost.optimal_allocation(published.published_law("joint", "msmarco", "v1"), budget, include_inference=False)
    assert n_star(after) > n_star(before)
    assert n_star(after) == pytest.approx(expected.n_params[0], rel=1e-2)
    assert (tmp_path / "budget_panel_browser.png").stat().st_size > 10_000
    assert (tmp_path / "figures" / "budget_optimum.png").is_file()  # the notebook's figures went to the tmp study
