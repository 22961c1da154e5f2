"""The fit figures: axes set by the runs, the paper's curves over the paper's range, Greek values in the legend,
seeds at their mean with their spread."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.ticker import NullFormatter

from drscale import plots
from drscale.fit.estimate import fit_data_size, fit_law, fit_model_size
from drscale.fit.published import MINIATURE_SIZES
from drscale.fit.published import PAPER_MEASURED_RANGE
from drscale.studies.metric_agreement import plot_agreement


@pytest.fixture(scope="module")
def model_fit():
    """Few noisy runs over two decades: the band fans out far beyond the runs at the grid's edges."""
    n = np.geomspace(3e4, 3e6, 4)
    ce = (1e5 / n) ** 0.5 + 2.5
    ce *= np.exp(np.random.default_rng(0).normal(0, 0.15, n.size))
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


def test_a_figure_that_fails_to_draw_leaves_the_previous_one(model_fit, tmp_path, monkeypatch) -> None:
    path = plots.save_figure(plots.plot_fit(model_fit), tmp_path, "fit.png")
    before = path.read_bytes()
    fig = plots.plot_fit(model_fit)

    def breaks_midway(target, **kwargs):
        target.write(b"half a png")
        raise RuntimeError("renderer died")

    monkeypatch.setattr(fig, "savefig", breaks_midway)
    with pytest.raises(RuntimeError, match="renderer died"):
        plots.save_figure(fig, tmp_path, "fit.png")
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["fit.png"]
    plt.close("all")


def test_agreement_figure_gives_each_source_of_pairs_its_own_colour() -> None:
    table = pd.DataFrame({"run_id": [f"r{i}" for i in range(6)], "model": ["m"] * 6, "ce": np.linspace(1, 3, 6),
                          "source": ["human", "ict", "human", "ict", "llm", "llm"], "ndcg@10": np.linspace(0.6, 0.1, 6)})
    fig = plot_agreement(table, "ndcg@10")
    colours = {tuple(np.round(c, 3)) for c in fig.axes[0].collections[0].get_facecolors()}
    assert len(colours) == 3
    plt.close(fig)


def _scatters(ax) -> list:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def _ranges(ax) -> list:
    return [c for c in ax.collections if isinstance(c, LineCollection)]


def test_one_run_per_point_draws_each_run_once_and_no_range(model_fit) -> None:
    ax = plots.plot_fit(model_fit, versions=()).axes[0]
    (runs,) = _scatters(ax)
    np.testing.assert_allclose(runs.get_offsets(), np.column_stack([model_fit.variables["n_params"], model_fit.ce]))
    assert runs.get_label() == "runs (4)" and not _ranges(ax)
    plt.close("all")


def test_seeds_at_one_size_are_drawn_as_their_mean_each_run_and_a_line_from_lowest_to_highest() -> None:
    n = np.repeat(np.geomspace(3e4, 3e6, 5), 3)
    ce = ((1e5 / n) ** 0.5 + 2.5) * np.exp(np.random.default_rng(1).normal(0, 0.05, n.size))
    result = fit_model_size(n, ce, n_bootstrap=50)
    ax = plots.plot_fit(result, versions=()).axes[0]
    dots, means = _scatters(ax)
    assert len(dots.get_offsets()) == 15 and dots.get_alpha() < 1
    by_size = pd.Series(ce).groupby(n)
    geometric = np.exp(np.log(pd.Series(ce)).groupby(n).mean())  # the points the law was fitted to
    np.testing.assert_allclose(means.get_offsets(), np.column_stack([geometric.index, geometric]))
    assert means.get_label().startswith("runs (15), geometric mean of up to 3 per point")
    (ranges,) = _ranges(ax)
    segments = ranges.get_segments()
    assert len(segments) == 5
    np.testing.assert_allclose([s[:, 1].min() for s in segments], by_size.min())
    np.testing.assert_allclose([s[:, 1].max() for s in segments], by_size.max())
    plt.close("all")


def test_embedding_dim_fit_is_drawn_with_its_axis_gamma_and_interval() -> None:
    d = 2.0 ** np.arange(3, 12)
    result = fit_law("embedding_dim", {"embedding_dim": d}, (40 / d) ** 0.6 + 1.5, n_bootstrap=50)
    ax = plots.plot_fit(result).axes[0]
    assert ax.get_xlabel() == "embedding dimension d"
    assert ax.get_title().endswith(plots.FORMULAS["embedding_dim"])
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    fitted = next(t for t in texts if t.startswith("fit:"))
    lo, hi = result.intervals()["gamma"]
    assert f"γ = {result.params['gamma']:.3g} [{lo:.3g}, {hi:.3g}]" in fitted and "δ =" in fitted
    assert not any(t.startswith("Fang et al.") for t in texts)  # the paper has no law in d
    plt.close("all")


def test_joint_dim_figure_draws_one_curve_band_and_set_of_runs_per_model_size() -> None:
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e4, 1e7, 4), 2.0 ** np.arange(3, 12, 2)))
    n, d = np.tile(n, 2), np.tile(d, 2)
    ce = ((2e5 / n) ** 0.4 + (60 / d) ** 0.7 + 1.2) * np.exp(np.random.default_rng(2).normal(0, 0.02, n.size))
    result = fit_law("joint_dim", {"encoder_params": n, "embedding_dim": d}, ce, n_bootstrap=20)
    ax = plots.plot_joint_dim_fit(result).axes[0]
    assert [line.get_label() for line in ax.lines] == [f"N = {size:.3g}" for size in np.unique(n)]
    assert ax.get_xlabel() == "embedding dimension d"
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 4  # a band per size
    assert len(_ranges(ax)) == 4  # two seeds at every (N, d): a range per size
    means = _scatters(ax)[1::2]
    assert sum(len(m.get_offsets()) for m in means) == 20  # one mean per (N, d)
    assert "γ =" in ax.get_legend().get_title().get_text()
    with pytest.raises(ValueError, match="plot_joint_dim_fit draws the joint_dim law"):
        plots.plot_joint_dim_fit(fit_model_size(n, ce, n_bootstrap=5))
    plt.close("all")


def test_scaling_curve_draws_seeds_at_their_mean_with_their_range_and_one_label_per_point() -> None:
    single = pd.DataFrame({"model": ["s", "m", "l"], "n_params": [1e4, 1e5, 1e6], "ce": [4.0, 3.0, 2.5]})
    ax = plots.plot_scaling_curve(single).axes[0]
    assert ax.lines[0].get_ydata().tolist() == [4.0, 3.0, 2.5]
    assert [t.get_text() for t in ax.texts] == ["s", "m", "l"] and not _ranges(ax)
    seeds = pd.concat([single, single.assign(ce=single.ce + 0.2)], ignore_index=True)
    ax = plots.plot_scaling_curve(seeds).axes[0]
    geometric = np.sqrt(single.ce * (single.ce + 0.2))  # the point a law is fitted to
    assert ax.lines[0].get_ydata() == pytest.approx(geometric)
    assert [t.get_text() for t in ax.texts] == ["s", "m", "l"]
    assert [t.xy[1] for t in ax.texts] == pytest.approx(geometric)
    (ranges,) = _ranges(ax)
    np.testing.assert_allclose([(s[:, 1].min(), s[:, 1].max()) for s in ranges.get_segments()],
                               [(4.0, 4.2), (3.0, 3.2), (2.5, 2.7)])
    assert len(_scatters(ax)[-1].get_offsets()) == 6
    plt.close("all")


def test_scaling_curve_with_a_hue_draws_one_line_per_model_through_its_seed_means() -> None:
    runs = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 4, "embedding_dim": [4, 4, 16, 16] * 2,
                         "ce": [4.0, 4.2, 3.0, 3.2, 3.5, 3.5, 2.5, 2.5]})
    ax = plots.plot_scaling_curve(runs, x="embedding_dim", hue="model").axes[0]
    assert [line.get_ydata().tolist() for line in ax.lines] == [pytest.approx([np.sqrt(4.0 * 4.2), np.sqrt(3.0 * 3.2)]),
                                                                [3.5, 2.5]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"] and not ax.texts
    assert ax.get_xlabel() == "embedding dimension d"
    plt.close("all")
