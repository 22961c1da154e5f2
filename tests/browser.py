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
