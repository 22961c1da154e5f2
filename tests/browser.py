"""What the real-browser tests share: Debian's chromium and how to launch it offline, free ports,
stopping a server with its kernels, and reading the budget panel's optimum."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
"""Debian's chromium (`make test` installs it where apt-get is usable); Playwright cannot download browsers offline."""
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="no chromium binary (install Debian's: apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def only_local(route) -> None:
    """A Playwright route handler that lets requests to 127.0.0.1 through and aborts the rest."""
    route.continue_() if urlparse(route.request.url).hostname == "127.0.0.1" else route.abort()


def stop(server: subprocess.Popen) -> None:
    """End a server started with `start_new_session=True` and the kernels of its process group."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:  # the server failed to start and its group is gone
        return
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def n_star(summary: str) -> float:
    """N* as the budget panel's summary shows it."""
    match = re.search(r"N\*\s+([0-9.e+-]+)", summary)
    assert match, summary
    return float(match.group(1))


BUDGET_KEY_PRESSES = 10
"""ArrowRight presses on the budget slider: 10 steps of 0.05 decades, 1e5 -> 10**5.5 USD."""


def move_budget_slider(page, timeout_ms: int, screenshot: Path) -> tuple[str, str, float]:
    """On a page showing notebook 06's budget panel: read its summary, move the budget slider
    `BUDGET_KEY_PRESSES` steps right, wait until the summary names the new budget and both
    figures are drawn again, and screenshot the panel. (summary before, summary after, budget)."""
    summary = page.locator(".drscale-optimum")
    summary.wait_for(timeout=timeout_ms)
    before = summary.inner_text()
    handle = page.locator(".widget-slider", has_text="Budget (USD)").locator(".noUi-handle")
    handle.focus()
    for _ in range(BUDGET_KEY_PRESSES):
        handle.press("ArrowRight")
    budget = 10 ** (5 + 0.05 * BUDGET_KEY_PRESSES)
    page.wait_for_function(
        "text => document.querySelector('.drscale-optimum').innerText.includes(text)",
        arg=f"Budget {budget:,.0f} USD", timeout=timeout_ms,
    )
    after = summary.inner_text()
    page.wait_for_function(  # the panel redraws its figures before its summary
        "() => [...document.querySelectorAll('.drscale-budget-panel img')]"
        ".filter(img => img.complete && img.naturalWidth > 0).length === 2",
        timeout=timeout_ms,
    )
    page.locator(".drscale-budget-panel").screenshot(path=screenshot)
    return before, after, budget
