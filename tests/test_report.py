"""The study report: one HTML file holding the executed notebooks, every figure, the fits with
their intervals, the regime and the versions, with nothing loaded from elsewhere; what is
missing is said in it. Built here from a small study in a temporary folder."""

from __future__ import annotations

import html
import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import matplotlib
import nbformat
import numpy as np
import pytest

from drscale import report, suite
from drscale.__main__ import main
from drscale.fit import laws
from drscale.fit.estimate import fit_model_size
from drscale.fit.result import save_fits
from drscale.study import Study
from drscale.sweep.regime import study_regime
from drscale.sweep.run import package_versions
from browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium

matplotlib.use("Agg")

FINGERPRINT = "0123456789abcdef"
EXECUTED = {"01_prepare_data": "01 · Prepare the data", "02_model_size_sweep": "02 · Model size"}


class Page(HTMLParser):
    """The ids, links, image sources and external references of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []
        self.loaded: list[str] = []  # what a browser would fetch: scripts, style sheets, frames
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        if tag in ("script", "iframe") and attributes.get("src") or tag == "link" and attributes.get("href"):
            self.loaded.append(attributes.get("src") or attributes.get("href"))


def png_bytes(colour: str) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1.5))
    figure.add_subplot().plot([1, 2, 3], [3, 1, 2], color=colour)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def executed_notebook(title: str, colour: str) -> nbformat.NotebookNode:
    import base64

    plot = nbformat.v4.new_code_cell("plot()", execution_count=2, outputs=[nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(png_bytes(colour)).decode("ascii"), "text/plain": "<Figure>"})])
    text = nbformat.v4.new_code_cell("print('ran')", execution_count=1,
                                     outputs=[nbformat.v4.new_output("stream", name="stdout", text="ran\n")])
    panel = nbformat.v4.new_code_cell("panel", execution_count=3, outputs=[nbformat.v4.new_output(
        "display_data", data={report.WIDGET_VIEW: {"model_id": "0", "version_major": 2}, "text/plain": "VBox()"})])
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}\n\nWhat it does."), text, plot, panel])


def model_size_fit():
    n = np.repeat(np.geomspace(2e4, 2e6, 6), 2)
    ce = laws.model_size_law(n, a=5e5, alpha=0.5, delta=1.0) * np.exp(np.random.default_rng(0).normal(0, 0.02, n.size))
    return fit_model_size(n, ce, n_bootstrap=50)


@pytest.fixture(scope="module")
def small_study(tmp_path_factory) -> Study:
    """Two executed notebooks with a figure each, one figure file, a model-size fit, prepared data."""
    root = tmp_path_factory.mktemp("study")
    study = Study(root / "data", root / "figures")
    study.executed.mkdir(parents=True)
    for (name, title), colour in zip(EXECUTED.items(), ("red", "blue")):
        nbformat.write(executed_notebook(title, colour), study.executed / f"{name}.ipynb")
    study.figures.mkdir()
    study.figure("ce_vs_model_size").write_bytes(png_bytes("green"))
    save_fits(study.fits, {"model_size": model_size_fit(), "joint": None})
    study.prepared("docstrings").mkdir(parents=True)
    (study.prepared("docstrings") / "provenance.json").write_text(
        json.dumps({"source": "docstrings", "fingerprint": FINGERPRINT}))
    return study


@pytest.fixture(scope="module")
def small_report(small_study) -> Path:
    return report.write_report(small_study)


def test_the_report_is_written_to_the_study_folder_as_one_page(small_study, small_report):
    assert small_report == small_study.root / "report.html"
    assert not [p for p in small_study.root.iterdir() if p.name.startswith(".report.html")]  # no staging file left
    text = small_report.read_text(encoding="utf-8")
    assert text.count("<html") == 1 and text.count("</html>") == 1


def test_every_contents_link_leads_to_a_section_of_the_page(small_report):
    page = Page(small_report.read_text(encoding="utf-8"))
    internal = [link[1:] for link in page.links if link.startswith("#")]
    expected = {"regime", "data", "fits", "versions", "figures"} | {f"notebook-{name}" for name in suite.NOTEBOOKS}
    assert expected <= set(internal)
    assert set(internal) <= page.ids


def test_every_image_is_inline_and_nothing_is_fetched(small_report):
    page = Page(small_report.read_text(encoding="utf-8"))
    assert len(page.images) == 3  # two notebook outputs and the figure file
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.loaded == []


def test_the_notebooks_appear_in_suite_order_with_their_outputs(small_report):
    text = small_report.read_text(encoding="utf-8")
    positions = [text.index(f'id="notebook-{name}"') for name in suite.NOTEBOOKS]
    assert positions == sorted(positions)
    assert all(title in text for title in EXECUTED.values()) and "ran" in text
    assert "An interactive panel: open the notebook in Jupyter" in text and report.WIDGET_VIEW not in text
    for name in set(suite.NOTEBOOKS) - set(EXECUTED):
        assert f"{name}.ipynb does not exist: this notebook has not been executed" in text


def test_the_fit_table_with_its_intervals_the_regime_versions_and_fingerprint_appear(small_report, small_study):
    text = small_report.read_text(encoding="utf-8")
    fit = model_size_fit()
    low, high = fit.intervals()["alpha"]
    assert "lower 95%" in text and "upper 95%" in text
    assert all(f"{value:.4g}" in text for value in (fit.params["alpha"], low, high))
    assert "model_size: " in text and "joint: " not in text
    assert html.escape(study_regime("cpu").description) in text
    versions = package_versions()
    assert all(f"<td>{package}</td><td>{versions[package]}</td>" in text for package in ("torch", "transformers", "numpy"))
    assert FINGERPRINT in text
    assert "<figcaption>ce_vs_model_size.png</figcaption>" in text


def test_missing_and_unreadable_pieces_are_said_in_the_report(tmp_path):
    study = Study(tmp_path / "data", tmp_path / "figures")
    text = report.write_report(study).read_text(encoding="utf-8")
    assert f"{study.fits} does not exist: run notebooks/05_fit_scaling_laws.ipynb first" in text
    assert all(f"{name}.ipynb does not exist" in text for name in suite.NOTEBOOKS)
    assert f"No figures under {study.figures} yet." in text and "No prepared data under" in text

    study.executed.mkdir()
    (study.executed / "02_model_size_sweep.ipynb").write_text("{not json")
    study.fits.parent.mkdir()
    study.fits.write_text("[]")
    text = report.write_report(study).read_text(encoding="utf-8")
    assert f"{study.executed / '02_model_size_sweep.ipynb'} could not be read" in text
    assert f"{study.fits} could not be read" in text


def test_the_report_command_writes_beside_the_notebooks_it_reads(small_study, tmp_path, capsys):
    executed = tmp_path / "executed"
    shutil.copytree(small_study.executed, executed)
    assert main(["report", "--output-dir", str(executed)]) == 0
    assert capsys.readouterr().out.strip().endswith(str(executed / "report.html"))
    assert "01 · Prepare the data" in (executed / "report.html").read_text(encoding="utf-8")


def test_the_suite_command_ends_with_the_report(small_study, tmp_path, monkeypatch, capsys):
    def run_notebook(name, parameters, output_dir):
        target = Path(output_dir) / f"{name}.ipynb"
        nbformat.write(executed_notebook(f"{name} ran", "black"), target)
        return target

    monkeypatch.setattr(suite, "run_notebook", run_notebook)
    assert main(["suite", "--output-dir", str(tmp_path)]) == 0
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert last_line.endswith(str(tmp_path / "report.html"))
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert all(f"{name} ran" in text for name in suite.NOTEBOOKS)


@needs_chromium
@pytest.mark.slow
def test_the_report_renders_offline_in_a_browser_with_every_image(small_report):
    from playwright.sync_api import sync_playwright

    requested = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()

            def only_the_file(route):
                requested.append(route.request.url)
                route.continue_() if urlparse(route.request.url).scheme in ("file", "data") else route.abort()

            page.route("**/*", only_the_file)
            page.goto(small_report.as_uri(), wait_until="load")
            images = page.eval_on_selector_all("img", "imgs => imgs.map(img => [img.complete, img.naturalWidth])")
            contents = page.eval_on_selector_all(
                "#contents a", "links => links.map(a => [a.textContent, !!document.getElementById(a.hash.slice(1))])")
        finally:
            browser.close()
    assert [urlparse(url).scheme for url in requested] == ["file"]  # the page itself, nothing more
    assert len(images) == 3 and all(complete and width > 0 for complete, width in images)
    titles = [title for title, _ in contents]
    assert titles[:4] == ["Training regime", "Prepared data", "Scaling-law fits", "Package versions"]
    assert titles[4:6] == list(EXECUTED.values()) and titles[-1] == "Figures"
    assert "05_fit_scaling_laws (not executed)" in titles
    assert all(found for _, found in contents)
