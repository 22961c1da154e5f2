"""One self-contained HTML page of a study, written at the end of the demo.

A study's results are spread over a dozen files: executed notebooks, figures, fits.json,
the prepared data's provenance, the versions in every run record. A reader without Jupyter
(a reviewer, a colleague, an archive) needs one file that opens offline and holds them all.
So the page is built from the executed notebooks themselves (one nbconvert export of all of
them, in suite order, images inline) and puts before them what a reader checks first: the
training regime, the data fingerprint, the fitted laws with their intervals and the package
versions; every figure of the study follows them. It loads nothing: no script, style sheet or
image comes from a file or the network. What is missing (a notebook not executed, no fits
yet) is said where it would have been, so a partial study still gets its page.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import nbformat
import pandas as pd
from nbconvert import HTMLExporter

from drscale import suite
from drscale.common.files import write_text_atomic
from drscale.data.prepare import read_provenance
from drscale.fit.result import checks_table, load_fits
from drscale.study import Study
from drscale.sweep.regime import study_regime
from drscale.sweep.run import package_versions

REPORT_NAME = "report.html"
TITLE = "drscale study report"
REGIME_PRESET = "cpu"
"""The training preset the demo's notebooks run on their defaults."""

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

_TEMPLATE_NAME = "drscale_report.html.j2"
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{#- JupyterLab's page without what it would fetch from a CDN: require.js, MathJax, mermaid, widgets -#}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{#- the report's own cells are its HTML as written; a notebook's raw cells are cleaned as usual -#}
{%- block rawcell scoped -%}
{%- if cell.metadata.get('drscale_report') -%}{{ cell.source }}{%- else -%}{{ super() }}{%- endif -%}
{%- endblock rawcell -%}
{%- block extra_css -%}
<style type="text/css">
  main { max-width: 1100px; margin: 0 auto; }
  .drscale-report, .drscale-notebook-start { font-family: var(--jp-content-font-family); font-size: var(--jp-content-font-size1); }
  .drscale-report table { border-collapse: collapse; margin: 0.5em 0 1em; }
  .drscale-report th, .drscale-report td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
  .drscale-report th:first-child, .drscale-report td:first-child { text-align: left; }
  .drscale-missing { border-left: 4px solid #d9822b; background: #fff6ec; padding: 0.5em 1em; }
  .drscale-notebook-start { border-top: 3px solid #444; margin-top: 3em; padding-top: 0.5em; color: #555; }
  .drscale-figure { margin: 1.5em 0; }
  .drscale-figure img { max-width: 100%; }
  .drscale-figure figcaption { font-family: var(--jp-code-font-family); color: #555; }
</style>
{%- endblock extra_css -%}
"""


@dataclass(frozen=True)
class Section:
    """A part of the page: the anchor the contents link to, its title there, and its HTML
    (under that title as a heading, unless the HTML brings its own, as a notebook does)."""

    anchor: str
    title: str
    html: str
    heading: bool = True


def report_path(study: Study | None = None) -> Path:
    """Where the study's report is written: report.html in its data folder."""
    return (study or Study()).root / REPORT_NAME


def write_report(study: Study | None = None, executed: str | Path | None = None,
                 path: str | Path | None = None) -> Path:
    """Build the report of `study` from the notebooks executed into `executed` (default: the
    study's) and write it whole to `path` (default: `report_path`); returns the path."""
    study = study or Study()
    page = build_report(study, Path(executed) if executed is not None else study.executed)
    return write_text_atomic(path if path is not None else report_path(study), page)


def build_report(study: Study, executed: Path) -> str:
    """The report as one HTML document."""
    summary = [_regime_section(), _data_section(study), _fits_section(study), _versions_section()]
    notebooks = [_notebook_section(name, executed) for name in report_notebooks(executed)]
    figures = _figures_section(study)
    sections = summary + [section for section, _ in notebooks] + [figures]
    cells = [_raw_html(_heading(study, executed) + _contents(sections))]
    cells += [_raw_html(_section_html(section)) for section in summary]
    for section, notebook in notebooks:
        cells.append(_raw_html(_section_html(section)))
        for cell in notebook.cells if notebook is not None else []:
            cell["id"] = f"{section.anchor}-{cell.get('id') or len(cells)}"  # unique across notebooks
            cells.append(cell)
    cells.append(_raw_html(_section_html(figures)))
    combined = nbformat.v4.new_notebook(cells=cells, metadata={"title": TITLE})
    page, _ = _exporter().from_notebook_node(
        combined, resources={"metadata": {"name": TITLE, "path": str(suite.NOTEBOOK_DIR)}})
    return page


def report_notebooks(executed: Path) -> list[str]:
    """The notebooks the report shows, in suite order: the demo's, executed or not, and the
    other suites' (the joint grid, the regime comparison) where they were executed."""
    names = set(suite.NOTEBOOKS) | {name for name in suite.notebook_names() if (executed / f"{name}.ipynb").exists()}
    return sorted(names)


# ------------------------------------------------------------ notebooks


def _notebook_section(name: str, executed: Path) -> tuple[Section, nbformat.NotebookNode | None]:
    """The anchor and heading of one executed notebook, and the notebook (None where there is
    none to show: the section then says why)."""
    path = executed / f"{name}.ipynb"
    anchor = f"notebook-{name}"
    if not path.exists():
        note = (f"{path} does not exist: this notebook has not been executed. "
                f"<code>python -m drscale notebook {name}</code> runs it (or <code>make demo</code> the whole suite).")
        return Section(anchor, f"{name} (not executed)", _missing(note)), None
    try:
        notebook = nbformat.read(path, as_version=4)
    except (OSError, ValueError, nbformat.ValidationError) as error:
        note = f"{path} could not be read ({type(error).__name__}: {error}); run the notebook again."
        return Section(anchor, f"{name} (unreadable)", _missing(html.escape(note))), None
    _replace_widgets(notebook)
    executed_at = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    start = f'<p class="drscale-notebook-start">notebooks/{name}.ipynb, executed {executed_at}</p>'
    return Section(anchor, _notebook_title(notebook, name), start, heading=False), notebook


def _notebook_title(notebook: nbformat.NotebookNode, name: str) -> str:
    """The notebook's first markdown heading, else its name."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return name


def _replace_widgets(notebook: nbformat.NotebookNode) -> None:
    """Widgets need a kernel: in their place a note pointing to the figures they saved."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in output.get("data", {}):
                output["data"] = {"text/html": '<p class="drscale-missing">An interactive panel: open the notebook '
                                               'in Jupyter to use it; the figures it saved are under '
                                               '<a href="#figures">Figures</a>.</p>'}


# ------------------------------------------------------------ study summary


def _regime_section() -> Section:
    regime = study_regime(REGIME_PRESET)
    settings = {field.name: getattr(regime.train, field.name) for field in dataclasses.fields(regime.train)}
    parts = [f"<p>The <code>{REGIME_PRESET}</code> training preset, which the notebooks run on their defaults: "
             f"{html.escape(regime.description)}.</p>",
             _key_value_table(settings, "setting")]
    if regime.learning_rates:
        parts.append("<p>Learning rate by model:</p>" + _key_value_table(regime.learning_rates, "model"))
    if regime.pretraining is not None:
        parts.append(f"<p>Pre-training: {html.escape(repr(regime.pretraining))}</p>")
    return Section("regime", "Training regime", "".join(parts))


def _data_section(study: Study) -> Section:
    prepared_root = study.prepared("")
    folders = sorted(p for p in prepared_root.glob("*") if p.is_dir() and not p.name.startswith(".")) \
        if prepared_root.is_dir() else []
    if not folders:
        note = f"No prepared data under {prepared_root}: notebook 01 prepares it."
        return Section("data", "Prepared data", _missing(html.escape(note)))
    rows = {}
    for folder in folders:
        try:
            provenance = read_provenance(folder)
        except ValueError as error:
            rows[folder.name] = {"source": "", "fingerprint": f"unreadable: {error}"}
            continue
        if provenance is None:
            rows[folder.name] = {"source": "", "fingerprint": f"no provenance.json in {folder}"}
        else:
            rows[folder.name] = {"source": provenance.get("source", ""), "fingerprint": provenance.get("fingerprint", "")}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("prepared data").reset_index()
    return Section("data", "Prepared data", "<p>The fingerprint of each prepared data set, as every run "
                                            "record carries it.</p>" + table.to_html(index=False))


def _fits_section(study: Study) -> Section:
    try:
        fits = load_fits(study.fits)
    except FileNotFoundError as error:
        return Section("fits", "Scaling-law fits", _missing(html.escape(str(error))))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        note = f"{study.fits} could not be read ({type(error).__name__}: {error}); run notebook 05 again."
        return Section("fits", "Scaling-law fits", _missing(html.escape(note)))
    if not fits:
        return Section("fits", "Scaling-law fits", _missing(html.escape(f"{study.fits} holds no fit.")))
    parts = [f"<p>From {html.escape(str(study.fits))}: each parameter's estimate with its bootstrap "
             "percentile interval.</p>"]
    for name, fit in fits.items():
        parts.append(f"<h3>{html.escape(name)}: {html.escape(fit.title)}</h3>"
                     f"<p>{fit.ce.size} runs, {html.escape(fit.method)}, {fit.level:.0%} intervals from "
                     f"{len(fit.bootstrap)} bootstrap resamples.</p>"
                     + fit.to_frame().reset_index().to_html(index=False, float_format=_number)
                     + f"<details><summary>Full report of the {html.escape(name)} fit</summary>"
                       f"<pre>{html.escape(fit.report())}</pre></details>")
    checks = checks_table(fits).rename_axis("fit").reset_index()
    parts.append("<h3>Checks side by side</h3>" + checks.to_html(index=False, float_format=_number))
    return Section("fits", "Scaling-law fits", "".join(parts))


def _versions_section() -> Section:
    return Section("versions", "Package versions",
                   "<p>Of the environment that wrote this report; every run record carries its own.</p>"
                   + _key_value_table(package_versions(), "package"))


def _figures_section(study: Study) -> Section:
    pictures = sorted(study.figures.glob("*.png")) if study.figures.is_dir() else []
    if not pictures:
        return Section("figures", "Figures", _missing(html.escape(f"No figures under {study.figures} yet.")))
    figures = [f'<figure class="drscale-figure" id="figure-{html.escape(p.stem)}">'
               f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode("ascii")}" '
               f'alt="{html.escape(p.name)}"><figcaption>{html.escape(p.name)}</figcaption></figure>'
               for p in pictures]
    return Section("figures", "Figures", f"<p>Every figure under {html.escape(str(study.figures))}.</p>"
                   + "".join(figures))


# ------------------------------------------------------------ page


def _heading(study: Study, executed: Path) -> str:
    written = time.strftime("%Y-%m-%d %H:%M")
    return (f'<div class="drscale-report"><h1 id="report-top">{TITLE}</h1>'
            f"<p>Study {html.escape(str(study.root))}, notebooks executed into {html.escape(str(executed))}; "
            f"written {written}.</p></div>")


def _contents(sections: Sequence[Section]) -> str:
    entries = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
    return f'<nav class="drscale-report" id="contents"><h2>Contents</h2><ol>{entries}</ol></nav>'


def _section_html(section: Section) -> str:
    heading = f"<h2>{html.escape(section.title)}</h2>" if section.heading else ""
    return f'<section class="drscale-report" id="{section.anchor}">{heading}{section.html}</section>'


def _missing(note_html: str) -> str:
    return f'<p class="drscale-missing">{note_html}</p>'


def _key_value_table(values: Mapping[str, object], key: str) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in values.items())
    return f"<table><thead><tr><th>{html.escape(key)}</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _raw_html(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_raw_cell(text, metadata={"raw_mimetype": "text/html", "drscale_report": True})


def _exporter() -> HTMLExporter:
    return HTMLExporter(template_name="lab", template_file=_TEMPLATE_NAME,
                        extra_loaders=[jinja2.DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
                        embed_images=True, exclude_input_prompt=True, exclude_output_prompt=True)
