"""Progress bars that suit where they are seen: widgets in JupyterLab, plain lines in logs.

Long work (a sweep's runs, each run's training steps, evaluation over many queries,
preparing data) reports progress through `progress_bar`. One bar kind cannot suit every
place: a tqdm widget in a kernel that no front end shows stalls papermill or floods the
executed notebook with a line per update, and a redrawn terminal bar becomes a wall of
carriage returns in a CI log. So the mode is chosen where the bar runs:

- "widgets": a kernel of a Jupyter server session (JupyterLab, Notebook; the server sets
  JPY_SESSION_NAME) or of VS Code: tqdm.auto widget bars.
- "lines": anywhere no one watches a redrawn bar: a kernel without a front end (started by
  papermill, nbclient or `drscale.suite`), CI (CI=true), a script whose stderr is not a
  terminal, and sweep pool workers. One plain line `desc: n/total [elapsed<remaining, rate]`
  at most every `LINE_EVERY_S` seconds, one when the bar starts and a final one, on stderr.
- "terminal": stderr is a terminal: ordinary tqdm bars.
- "off": nothing.

The environment variable DRSCALE_PROGRESS, set to one of these, overrides the choice.
`drscale.suite` starts its kernels with it set to "lines" ("off" stays "off"), since a
kernel cannot tell papermill from a person; pool workers set it the same way for themselves.

What a JupyterLab user sees of a sweep: the "runs" and "pre-training" bars as widgets; a run
trained in the kernel itself (one worker) as a widget too; runs in pool workers as lines
naming the run (model and D), which ipykernel copies from the workers' stderr into the
cell's output (and to the terminal that started JupyterLab).

Where progress is a parameter, it stays a `progress: bool` switch: on by default for
functions a person calls, off inside the library. A bar never touches a random generator
or the order of work, so it changes no result.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.std import tqdm

ENV = "DRSCALE_PROGRESS"
MODES = ("widgets", "lines", "terminal", "off")
LINE_EVERY_S = 10.0
"""Seconds between two lines of a headless bar: a line a run every few seconds keeps a log readable."""


def mode() -> str:
    """How bars show here: DRSCALE_PROGRESS if set, else what the process runs in (see the module)."""
    chosen = os.environ.get(ENV, "").strip().lower()
    if chosen:
        if chosen not in MODES:
            raise ValueError(f"{ENV} must be one of {MODES}; got {os.environ[ENV]!r}")
        return chosen
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false"):
        return "lines"
    if _in_kernel():
        return "widgets" if os.environ.get("JPY_SESSION_NAME") or os.environ.get("VSCODE_PID") else "lines"
    return "terminal" if sys.stderr.isatty() else "lines"


def progress_bar(iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 enabled: bool = True, leave: bool = True, beside_workers: bool = False) -> tqdm | LineBar:
    """A tqdm-like bar over `iterable` (or updated by hand up to `total`) shown as `mode()` says.

    It iterates, `update(n)`s, `set_postfix(**values)`s, `close()`s and works as a context
    manager in every mode. `leave=False` removes a finished widget or terminal bar; lines stay.
    `beside_workers`: worker processes write their lines to the same stderr meanwhile, which
    would tear a terminal bar apart, so in a terminal this bar is lines too."""
    shown = mode() if enabled else "off"
    if shown == "lines" or (shown == "terminal" and beside_workers):
        return LineBar(iterable, total, desc)
    if shown == "widgets":
        from tqdm.auto import tqdm as auto_tqdm

        return auto_tqdm(iterable, total=total, desc=desc, leave=leave)
    return tqdm(iterable, total=total, desc=desc, leave=leave, disable=shown == "off")


class LineBar:
    """A bar as plain lines on stderr: at the start, at most every `every_s` seconds, and at the end."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 every_s: float = LINE_EVERY_S) -> None:
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.total, self.desc, self.every_s = iterable, total, desc, every_s
        self.n = 0
        self.postfix = ""
        self.closed = False
        self.start = self.last = time.monotonic()
        self._line()

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> LineBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self._line()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.n != self.shown:  # the last line already says where it ended
                self._line()

    def _line(self) -> None:
        counts = "{n_fmt}/{total_fmt} [{elapsed}<{remaining}" if self.total is not None else "{n_fmt} [{elapsed}"
        line = tqdm.format_meter(self.n, self.total, time.monotonic() - self.start, prefix=self.desc,
                                 postfix=self.postfix, bar_format="{desc}: " + counts + ", {rate_fmt}{postfix}]")
        print(line, file=sys.stderr, flush=True)
        self.shown = self.n


def headless_here() -> None:
    """Show this process's bars as lines from now on (none when progress is off): for a
    worker process, whose output only reaches a log or a cell's text."""
    os.environ[ENV] = _headless_mode()


@contextlib.contextmanager
def headless_kernels() -> Iterator[None]:
    """Kernels started inside show their bars as lines (none when progress is off): a
    started kernel inherits this environment."""
    before = os.environ.get(ENV)
    os.environ[ENV] = _headless_mode()
    try:
        yield
    finally:
        if before is None:
            del os.environ[ENV]
        else:
            os.environ[ENV] = before


def _headless_mode() -> str:
    return "off" if os.environ.get(ENV, "").strip().lower() == "off" else "lines"


def _in_kernel() -> bool:
    """Whether this is an IPython kernel (not a terminal IPython or a plain interpreter)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in shell.config
