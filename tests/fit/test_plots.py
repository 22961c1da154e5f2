"""The fit figures: axes set by the runs, the paper's curves over the paper's range, Greek values in the legend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.ticker import NullFormatter

from drscale import plots
from drscale.fit.estimate import fit_data_size, fit_model_size
from drscale.fit.published import MINIATURE_SIZES
from drscale.fit.published import PAPER_MEASURED_RANGE
from drscale.studies.metric_agreement import plot_agreement


@pytest.fixture(scope="module")
def model_fit():
    """Few noisy runs over two decades: the band fans out far beyond the runs at the grid's edges."""
    n = np.geomspace(3e4, 3e6, 5)
    ce = (1e5 / n) ** 0.5 + 2.5
    ce *= np.exp(np.random.default_rng(0).normal(0, 0.05, n.size))
    return fit_model_size(n, ce, n_bootstrap=200, seed=0)


def test_y_limits_follow_the_runs_not_the_band(model_fit) -> None:
    fig = plots.plot_fit(model_fit, versions=())
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    curve = model_fit.predict(ax.lines[0].get_xdata())
    assert low == pytest.approx(min(model_fit.ce.min(), curve.min()) / plots.Y_MARGIN)
    assert high == pytest.approx(max(model_fit.ce.max(), curve.max()) * plots.Y_MARGIN)
    assert high / low < 3 * model_fit.ce.max() / model_fit.ce.min()
    band_low, band_high = model_fit.band(ax.lines[0].get_xdata())
    assert band_high.max() > high or band_low.min() < low  # the band runs past the axes, which cut it off
    plt.close(fig)


def test_paper_curves_cover_only_the_papers_measured_range_and_name_their_source(model_fit) -> None:
    fig = plots.plot_fit(model_fit)
    ax = fig.axes[0]
    paper = [line for line in ax.lines if line.get_label().startswith("Fang et al. 2024")]
    assert [line.get_label() for line in paper] == ["Fang et al. 2024 (v1, msmarco), measured range",
                                                    "Fang et al. 2024 (SIGIR, secondary source, msmarco), measured range"]
    for line in paper:
        x = line.get_xdata()
        assert x.min() == pytest.approx(min(MINIATURE_SIZES.values()))  # BERT-Tiny, not below
        assert x.max() == pytest.approx(max(MINIATURE_SIZES.values()))
    plt.close(fig)


def test_data_size_paper_curves_stop_at_the_papers_largest_d() -> None:
    d = np.geomspace(1e2, 1e5, 6)
    fig = plots.plot_fit(fit_data_size(d, (1e3 / d) ** 0.8 + 0.5, n_bootstrap=20))
    paper = [line for line in fig.axes[0].lines if line.get_label().startswith("Fang et al. 2024")]
    assert paper and all(line.get_xdata().max() == pytest.approx(PAPER_MEASURED_RANGE["data_size"][1])
                         for line in paper)
    plt.close(fig)


def test_legend_gives_fitted_values_in_greek_with_intervals(model_fit) -> None:
    fig = plots.plot_fit(model_fit)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    fitted = next(t for t in texts if t.startswith("fit:"))
    lo, hi = model_fit.intervals()["alpha"]
    assert f"α = {model_fit.params['alpha']:.3g} [{lo:.3g}, {hi:.3g}]" in fitted
    assert "δ =" in fitted and "alpha" not in fitted and "delta" not in fitted
    assert fig.axes[0].get_title().endswith(plots.FORMULAS["model_size"])  # mathtext: rendered as α and δ
    plt.close(fig)


def test_minor_ticks_carry_no_labels(model_fit) -> None:
    fig = plots.plot_fit(model_fit)
    ax = fig.axes[0]
    assert isinstance(ax.xaxis.get_minor_formatter(), NullFormatter)
    assert isinstance(ax.yaxis.get_minor_formatter(), NullFormatter)
    fig.canvas.draw()
    labels = [t for t in ax.get_yticklabels() if t.get_text() and ax.get_ylim()[0] <= t.get_position()[1] <= ax.get_ylim()[1]]
    assert len(labels) >= 2  # a short log axis still gets labelled ticks
    plt.close(fig)


def test_save_figure_writes_every_figure_at_one_resolution(model_fit, tmp_path) -> None:
    from PIL import Image

    path = plots.save_figure(plots.plot_fit(model_fit), tmp_path / "figures", "fit.png")
    assert path == tmp_path / "figures" / "fit.png"
    assert Image.open(path).info["dpi"][0] == pytest.approx(plots.FIGURE_DPI, abs=0.5)
    plt.close("all")


def test_agreement_figure_gives_each_source_of_pairs_its_own_colour() -> None:
    table = pd.DataFrame({"run_id": [f"r{i}" for i in range(6)], "model": ["m"] * 6, "ce": np.linspace(1, 3, 6),
                          "source": ["human", "ict", "human", "ict", "llm", "llm"], "ndcg@10": np.linspace(0.6, 0.1, 6)})
    fig = plot_agreement(table, "ndcg@10")
    colours = {tuple(np.round(c, 3)) for c in fig.axes[0].collections[0].get_facecolors()}
    assert len(colours) == 3
    plt.close(fig)
