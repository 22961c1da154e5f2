"""Notebook 06 opened in JupyterLab and run from its menu in a real browser: the budget panel works there.

`make lab` is how a researcher explores the notebooks; papermill and Voila do not load
JupyterLab's widget manager or its menus, so only a run through JupyterLab's own UI shows
that the panel renders and follows its slider there. JupyterLab takes no papermill
parameters, so the copied notebook gets papermill's injected-parameters cell before the
server starts; its paths point into `tmp_path`, where a joint fit is saved for it to read.

Chromium is Debian's (`make test` installs it where apt-get is usable); Playwright cannot
download browsers here. Every request off 127.0.0.1 is aborted, so the test needs no network.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from drscale import suite
from drscale.budget import choices as budget_laws
from drscale.budget import cost
from drscale.fit.result import save_fits
from drscale.study import Study
from browser import CHROMIUM, CHROMIUM_ARGS, free_port, move_budget_slider, n_star, needs_chromium, only_local, stop
from budget.v1_fit import v1_fit

NOTEBOOK = "06_budget_allocation"
TIMEOUT_MS = 120_000


def wait_for_server(url: str, server: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    """Poll JupyterLab's status API until it answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                json.load(response)
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer {url} within {timeout_s} s:\n{log.read_text()}")


def kernel_commands(server: subprocess.Popen) -> list[list[str]]:
    """Command lines of the server's kernels, read from /proc (the children of any of its threads)."""
    children = [pid for task in Path(f"/proc/{server.pid}/task").iterdir()
                for pid in (task / "children").read_text().split()]
    commands = [Path(f"/proc/{pid}/cmdline").read_text().split("\0") for pid in children]
    return [command for command in commands if "ipykernel_launcher" in command]


@pytest.mark.notebook
@needs_chromium
@pytest.mark.slow
def test_budget_panel_runs_in_jupyterlab(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    study = Study(tmp_path / "data", tmp_path / "figures")
    save_fits(study.fits, {"joint": v1_fit(n_samples=20)})
    root = tmp_path / "notebooks"
    root.mkdir()
    notebook = load_notebook_node(str(suite.notebook_path(NOTEBOOK)))
    parameters = {"data_dir": str(study.root), "figures_dir": str(study.figures), "law": "our_fit"}
    nbformat.write(parameterize_notebook(notebook, parameters), root / f"{NOTEBOOK}.ipynb")

    # JupyterLab's settings, workspaces, runtime files and the kernel's history stay in tmp_path;
    # --allow-root lets the server start in containers that run as root
    jupyter = tmp_path / "jupyter"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(jupyter / "config"), "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
           "IPYTHONDIR": str(jupyter / "ipython")}
    port, token, log = free_port(), secrets.token_hex(16), tmp_path / "lab.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", f"--port={port}", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
             f"--LabApp.user_settings_dir={jupyter / 'user-settings'}",
             f"--LabApp.workspaces_dir={jupyter / 'workspaces'}", "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--allow-root"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_server(f"{base}/api/status?token={token}", server, log)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1800})
                page.route("**/*", only_local)
                page.goto(f"{base}/lab/tree/{NOTEBOOK}.ipynb?token={token}", timeout=TIMEOUT_MS)
                # the status bar names the kernel once it is connected (before that it reads "No Kernel | Initializing")
                page.get_by_text("Python 3 (ipykernel) | Idle", exact=True).wait_for(timeout=TIMEOUT_MS)

                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
                before, after, budget = move_budget_slider(page, TIMEOUT_MS, tmp_path / "budget_panel_lab.png")
                kernels = kernel_commands(server)
            finally:
                browser.close()
    finally:
        stop(server)

    expected = cost.optimal_allocation(budget_laws.available_laws(study.root)["our_fit"], budget,
                                       include_inference=False)
    assert [command[0] for command in kernels] == [sys.executable]  # the python3 kernel is this environment's
    assert "Budget 100,000 USD" in before and "law: Our fit" in before, before
    assert "95% interval" in before  # the fit's bootstrap reached the panel
    assert n_star(after) > n_star(before)
    assert n_star(after) == pytest.approx(expected.n_params[0], rel=1e-2)
    assert (tmp_path / "budget_panel_lab.png").stat().st_size > 10_000
    assert (study.figures / "budget_optimum.png").is_file()  # the parameters reached the kernel
