"""Tests for jaxlab.plotting on a result made without training (tests/fake_results.py):
figure structure (panels, lines, bands, markers), data drawn equal to the history, saved
files of the expected pixel size, and one-line errors for bad names."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from scipy import stats as scipy_stats

from jaxlab import plotting
from jaxlab.errors import ConfigError
from tests.fake_results import (
    BATCH_SIZES,
    DIVERGE_EPOCH,
    DIVERGED,
    LEARNING_RATES,
    SEEDS,
    STOP_EPOCH,
    STOPPED,
    fake_result,
    index_of,
    n_variants,
)


@pytest.fixture(scope="module")
def result():
    return fake_result()


def lines(fig: Figure) -> list:
    return [line for ax in fig.axes for line in ax.lines]


def marks(fig: Figure, kind: str) -> list:
    return [c for ax in fig.axes for c in ax.collections if c.get_gid() == kind]


# -- learning curves ----------------------------------------------------------------------------
def test_facets_make_one_panel_per_value_and_one_line_per_variant(result):
    fig = plotting.curves(result, "val_accuracy", facet="batch_size", color="learning_rate")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == len(BATCH_SIZES)
    assert [ax.get_title() for ax in fig.axes] == [f"batch_size={b}" for b in BATCH_SIZES]
    assert len(lines(fig)) == n_variants()
    for ax, bs in zip(fig.axes, BATCH_SIZES, strict=True):
        assert len(ax.lines) == len(LEARNING_RATES) * len(SEEDS)
        assert all(f"batch_size={bs}" in line.get_label() or "learning_rate" in line.get_label()
                   for line in ax.lines)
    # The legend names the colour axis' values (and the diverged / stopped marks).
    legend = fig.legends[0]
    texts = [t.get_text() for t in legend.get_texts()]
    for lr in ("0.001", "0.01", "0.1"):
        assert f"learning_rate={lr}" in texts
    assert "diverged" in texts and "stopped early" in texts


def test_lines_of_one_colour_value_share_its_colour(result):
    fig = plotting.curves(result, "loss", facet="batch_size", color="learning_rate")
    by_lr: dict[str, set] = {}
    for line in lines(fig):
        lr = next(p for p in line.get_label().split(", ") if p.startswith("learning_rate"))
        by_lr.setdefault(lr, set()).add(tuple(np.round(line.get_color(), 6)))
    assert len(by_lr) == len(LEARNING_RATES)
    assert all(len(c) == 1 for c in by_lr.values())
    assert len(set.union(*by_lr.values())) == len(LEARNING_RATES)


@pytest.mark.parametrize("x", ["epoch", "updates", "examples"])
def test_lines_draw_the_history(result, x):
    fig = plotting.curves(result, "val_loss", x=x)
    assert len(fig.axes) == 1 and len(lines(fig)) == n_variants()
    h = result.history
    for v, line in enumerate(lines(fig)):
        rows = h[h.variant == v].sort_values("epoch")
        np.testing.assert_array_equal(line.get_xdata(), rows[x].to_numpy(float))
        np.testing.assert_array_equal(line.get_ydata(), rows["val_loss"].to_numpy(float))
    assert fig.axes[0].get_xscale() == ("log" if x == "updates" else "linear")
    assert fig.axes[0].get_xlabel() == plotting.X_AXES[x]


def test_aggregate_draws_one_mean_line_and_band_per_group(result):
    fig = plotting.curves(result, "val_accuracy", facet="batch_size", color="learning_rate",
                          aggregate="seed", band="std")
    groups = len(BATCH_SIZES) * len(LEARNING_RATES)
    assert len(lines(fig)) == groups
    bands = [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == groups
    # The mean line is the mean over seeds, epoch by epoch.
    h = result.history
    ax = fig.axes[BATCH_SIZES.index(16)]
    line = next(li for li in ax.lines if "learning_rate=0.01" in li.get_label())
    sel = h[(h["train.batch_size"] == 16) & (h["train.learning_rate"] == 0.01)]
    np.testing.assert_allclose(line.get_ydata(), sel.groupby("epoch").val_accuracy.mean())


def test_minmax_band_spans_the_repeats(result):
    fig = plotting.curves(result, "loss", aggregate="train.seed", band="minmax",
                          variants=[index_of({"train.batch_size": 16, "train.learning_rate": lr,
                                              "train.seed": s})
                                    for lr in (0.01,) for s in SEEDS])
    (band,) = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    h = result.history
    sel = h[(h["train.batch_size"] == 16) & (h["train.learning_rate"] == 0.01)]
    assert np.isclose(ys.min(), sel.loss.min()) and np.isclose(ys.max(), sel.loss.max())


def test_diverged_and_stopped_variants_are_marked_where_and_when(result):
    fig = plotting.curves(result, "val_accuracy", facet="batch_size")
    (div,) = marks(fig, "diverged")
    (stop,) = marks(fig, "stopped")
    assert div.axes is fig.axes[BATCH_SIZES.index(DIVERGED["train.batch_size"])]
    assert stop.axes is fig.axes[BATCH_SIZES.index(STOPPED["train.batch_size"])]
    assert div.get_offsets()[0][0] == DIVERGE_EPOCH
    assert stop.get_offsets()[0][0] == STOP_EPOCH


def test_an_exploding_loss_does_not_flatten_the_other_curves(result):
    fig = plotting.curves(result, "loss", facet="batch_size")
    lo, hi = fig.axes[0].get_ylim()
    assert hi < 5  # the diverged variant reaches 1e20
    ok = result.history[result.history.variant != index_of(DIVERGED)].loss
    assert lo <= ok.min() and hi >= ok.max()
    # Its mark sits inside the visible range.
    (div,) = marks(fig, "diverged")
    assert lo <= div.get_offsets()[0][1] <= hi


# -- sensitivity, heatmap, comparisons ----------------------------------------------------------
def test_sensitivity_is_final_metric_against_learning_rate_on_log_axis(result):
    fig = plotting.sensitivity(result, "val_accuracy", color="batch_size", aggregate="seed")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "learning_rate"
    assert len(ax.lines) == len(BATCH_SIZES)
    v = result.variants
    line = next(li for li in ax.lines if li.get_label() == "batch_size=16")
    np.testing.assert_array_equal(line.get_xdata(), LEARNING_RATES)
    expect = v[v["train.batch_size"] == 16].groupby("train.learning_rate").final_val_accuracy
    np.testing.assert_allclose(line.get_ydata(), expect.mean())
    assert len(marks(fig, "diverged")) == 1


def test_sensitivity_without_aggregate_has_one_line_per_other_combination(result):
    fig = plotting.sensitivity(result, "loss", axis="batch_size", value="best")
    assert len(fig.axes[0].lines) == len(LEARNING_RATES) * len(SEEDS)
    assert fig.axes[0].get_xscale() == "log"  # 4..64 spans more than 10x


def test_heatmap_holds_the_mean_final_metric_per_cell(result):
    fig = plotting.heatmap(result, "val_loss")
    ax = fig.axes[0]  # fig.axes[1] is the colour bar
    (image,) = ax.images
    grid = image.get_array()
    assert grid.shape == (len(LEARNING_RATES), len(BATCH_SIZES))
    v = result.variants
    ok = v[v.status != "diverged"]
    for i, lr in enumerate(LEARNING_RATES):
        for j, bs in enumerate(BATCH_SIZES):
            cell = ok[(ok["train.learning_rate"] == lr) & (ok["train.batch_size"] == bs)]
            assert np.isclose(grid[i, j], cell.final_val_loss.mean())
    assert ax.get_xlabel() == "batch_size" and ax.get_ylabel() == "learning_rate"
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == grid.size and any("div." in t for t in texts)


def test_compare_two_variants_and_two_results(result):
    fig = plotting.compare(result, "val_accuracy", variants=[0, 5], train=True)
    assert len(lines(fig)) == 4  # validation and training curve of each
    other = fake_result("other", shift=0.05)
    fig = plotting.compare({"a": result, "b": other}, "val_loss", variants=[0, 1, 2])
    labels = [line.get_label() for line in lines(fig)]
    assert len(labels) == 6 and labels[0].startswith("a: v0") and labels[3].startswith("b: v0")


# -- confidence intervals over seeds ------------------------------------------------------------
def t_interval(values) -> tuple[float, float]:
    """The 95% Student-t interval of the mean, straight from scipy."""
    x = np.asarray(values, float)
    lo, hi = scipy_stats.t.interval(0.95, len(x) - 1, loc=x.mean(),
                                    scale=scipy_stats.sem(x))
    return float(lo), float(hi)


def band_edges(band: PolyCollection) -> dict[float, tuple[float, float]]:
    """x -> (lowest, highest) y of a ``fill_between`` band."""
    edges: dict[float, list[float]] = {}
    for x, y in band.get_paths()[0].vertices:
        edges.setdefault(round(float(x), 9), []).append(float(y))
    return {x: (min(ys), max(ys)) for x, ys in edges.items()}


def test_curves_band_is_the_95_percent_t_interval_over_seeds(result):
    fig = plotting.curves(result, "loss", aggregate="seed", facet="batch_size")
    ax = fig.axes[BATCH_SIZES.index(16)]
    line = next(li for li in ax.lines if "learning_rate=0.01" in li.get_label())
    (band,) = [c for c in ax.collections
               if isinstance(c, PolyCollection) and c.get_facecolor()[0][:3].tolist()
               == list(line.get_color()[:3])]
    h = result.history
    sel = h[(h["train.batch_size"] == 16) & (h["train.learning_rate"] == 0.01)]
    edges = band_edges(band)
    for epoch, rows in sel.groupby("epoch"):
        np.testing.assert_allclose(edges[float(epoch)], t_interval(rows.loss), rtol=1e-9)
    assert "95% CI over seed" in fig.get_suptitle()


def test_sensitivity_band_is_the_95_percent_t_interval_over_seeds(result):
    fig = plotting.sensitivity(result, "val_accuracy", color="batch_size", aggregate="seed")
    ax = fig.axes[0]
    assert "95% CI over seed" in ax.get_title()
    v = result.variants
    for i, bs in enumerate(BATCH_SIZES):
        edges = band_edges([c for c in ax.collections if isinstance(c, PolyCollection)][i])
        for lr in LEARNING_RATES:
            sel = v[(v["train.batch_size"] == bs) & (v["train.learning_rate"] == lr)
                    & (v.status != "diverged")]
            if len(sel) >= 2:
                np.testing.assert_allclose(edges[lr], t_interval(sel.final_val_accuracy),
                                           rtol=1e-9)


def test_heatmap_cells_read_their_95_percent_interval(result):
    ax = plotting.heatmap(result, "val_loss").axes[0]
    assert "95% CI" in ax.get_title()
    v = result.variants
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts}
    for i, lr in enumerate(LEARNING_RATES):
        for j, bs in enumerate(BATCH_SIZES):
            cell = v[(v["train.learning_rate"] == lr) & (v["train.batch_size"] == bs)
                     & (v.status != "diverged")].final_val_loss
            if len(cell) >= 2:
                lo, hi = t_interval(cell)
                assert texts[i, j].split("\n")[1] == f"± {(hi - lo) / 2:.2g}"
            else:
                assert "±" not in texts[i, j]


def bar_containers(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def bar_intervals(ax) -> list[dict[float, tuple[float, float]]]:
    """Per bar container: bar x -> the (low, high) ends of its error bar."""
    out = []
    for bars in bar_containers(ax):
        if bars.errorbar is None:
            continue
        segs = bars.errorbar.lines[2][0].get_segments()
        out.append({round(float(s[0][0]), 9): (float(min(s[:, 1])), float(max(s[:, 1])))
                    for s in segs if len(s) and np.isfinite(s).all()})
    return out


def test_bars_show_the_mean_with_its_95_percent_interval_over_seeds(result):
    fig = plotting.bars(result, "val_accuracy", color="batch_size")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "learning_rate" and ax.get_ylabel() == "final val_accuracy"
    assert "95% CI over seed" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f"batch_size={b}" for b in BATCH_SIZES]
    v = result.variants
    intervals = bar_intervals(ax)
    assert len(intervals) == len(BATCH_SIZES)
    for container, ends, bs in zip(bar_containers(ax), intervals, BATCH_SIZES, strict=True):
        for bar, lr in zip(container.patches, LEARNING_RATES, strict=True):
            sel = v[(v["train.batch_size"] == bs) & (v["train.learning_rate"] == lr)
                    & (v.status != "diverged")].final_val_accuracy
            x = round(bar.get_x() + bar.get_width() / 2, 9)
            assert np.isclose(bar.get_height(), sel.mean())
            if len(sel) >= 2:
                np.testing.assert_allclose(ends[x], t_interval(sel), rtol=1e-9)
            else:  # the diverged seed is left out: one value, no interval
                assert x not in ends


def test_course_bars_label_the_axes_and_draw_the_given_interval():
    from jaxlab.course import framework, stats

    per_seed = {"sgd": [0.80, 0.84, 0.82], "adam": [0.90, 0.91, 0.95]}
    rows = {k: stats.mean_ci(x) for k, x in per_seed.items()}
    table = pd.DataFrame({"acc": [e.mean for e in rows.values()],
                          "acc_low": [e.low for e in rows.values()],
                          "acc_high": [e.high for e in rows.values()]},
                         index=pd.Index(list(rows), name="optimizer"))
    fig = Figure()
    ax = fig.subplots()
    assert framework.bars(table, ylabel="test accuracy", ax=ax) is fig
    assert ax.get_xlabel() == "optimizer" and ax.get_ylabel() == "test accuracy"
    (ends,) = bar_intervals(ax)
    for x, k in enumerate(per_seed):
        np.testing.assert_allclose(ends[x], t_interval(per_seed[k]), rtol=1e-9)


# -- compare: many lines, two results -----------------------------------------------------------
def legend_outside(fig: Figure, ax) -> bool:
    fig.draw_without_rendering()
    leg, box = ax.get_legend().get_window_extent(), ax.get_window_extent()
    inside_figure = fig.bbox.x0 <= leg.x0 and leg.x1 <= fig.bbox.x1 + 1
    return inside_figure and (leg.x0 >= box.x1 or leg.y1 <= box.y0)


def test_compare_gives_twelve_lines_twelve_distinct_colours_and_a_legend_beside(result):
    fig = plotting.compare(result, "val_loss", variants=range(12))
    ax = fig.axes[0]
    colors = np.array([to_rgb(li.get_color()) for li in ax.lines])
    assert len(colors) == 12
    gaps = np.linalg.norm(colors[:, None] - colors[None], axis=-1)[np.triu_indices(12, 1)]
    assert gaps.min() > 0.05  # no two alike
    assert legend_outside(fig, ax)
    assert len(ax.get_legend().get_texts()) >= 12


def test_compare_two_results_styles_them_apart_and_names_them(result):
    other = fake_result("other", shift=0.05)
    fig = plotting.compare([result, other], "val_loss", variants=range(6))
    ax = fig.axes[0]
    first, second = ax.lines[:6], ax.lines[6:]
    assert {li.get_linestyle() for li in first} == {"-"}
    assert {li.get_linestyle() for li in second} == {"--"}
    # The same configuration has the same colour in both; no two configurations share one.
    assert [li.get_color() for li in first] == [li.get_color() for li in second]
    assert len({to_rgb(li.get_color()) for li in first}) == 6
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "fake" in texts and "other" in texts  # the results by their names
    assert legend_outside(fig, ax)


def test_compare_aggregates_seeds_with_95_percent_bands(result):
    other = fake_result("other", shift=0.05)
    fig = plotting.compare({"a": result, "b": other}, "loss", aggregate="seed")
    ax = fig.axes[0]
    assert "95% CI over seed" in ax.get_title()
    assert len(ax.lines) == 2 * len(BATCH_SIZES) * len(LEARNING_RATES)
    i, line = next((i, li) for i, li in enumerate(ax.lines)
                   if li.get_label() == "b: batch_size=16, learning_rate=0.01")
    assert line.get_linestyle() == "--"
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == len(ax.lines)  # one band per mean line, drawn just before it
    h = other.history
    sel = h[(h["train.batch_size"] == 16) & (h["train.learning_rate"] == 0.01)]
    np.testing.assert_allclose(line.get_ydata(), sel.groupby("epoch").loss.mean())
    edges = band_edges(bands[i])
    for epoch, rows in sel.groupby("epoch"):
        np.testing.assert_allclose(edges[float(epoch)], t_interval(rows.loss), rtol=1e-9)


# -- drawing into the caller's Axes -------------------------------------------------------------
@pytest.mark.parametrize("kind", ["curves", "sensitivity", "heatmap", "compare", "bars"])
def test_each_plot_draws_into_a_given_axes_and_returns_its_figure(result, kind):
    fig = Figure()
    left, right = fig.subplots(1, 2)
    got = getattr(plotting, kind)(result, "val_loss", ax=right)
    assert got is fig
    assert not left.lines and not left.images  # only the Axes given is drawn into
    drawn = {"heatmap": right.images, "bars": right.patches}.get(kind, right.lines)
    assert drawn
    assert all(a in (left, right) or a.get_label() == "<colorbar>" for a in fig.axes)
    if kind == "curves":
        assert len(right.lines) == n_variants() and right.get_title() == "val_loss"
        assert fig.get_suptitle() == ""  # the caller's figure keeps its own title


def test_curves_with_facets_draw_into_one_given_axes_per_panel(result):
    fig = Figure()
    axs = fig.subplots(1, len(BATCH_SIZES))  # an array of Axes, as plt.subplots gives
    assert plotting.curves(result, "val_accuracy", facet="batch_size", ax=axs) is fig
    assert [ax.get_title() for ax in axs] == [f"batch_size={b}" for b in BATCH_SIZES]
    assert sum(len(ax.lines) for ax in axs) == n_variants()
    with pytest.raises(ConfigError, match=rf"ax.*{len(BATCH_SIZES)} panels.*batch_size"):
        plotting.curves(result, "val_accuracy", facet="batch_size", ax=axs[0])


# -- files --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["curves", "sensitivity", "heatmap", "compare", "bars"])
def test_saved_png_has_the_figure_size_in_pixels(result, tmp_path, kind):
    fig = getattr(plotting, kind)(result, "val_accuracy")
    fig.set_size_inches(6.4, 3.2)
    path = plotting.save(fig, tmp_path / "sub" / f"{kind}.png", dpi=50)
    image = mpimg.imread(path)
    assert image.shape == (160, 320, 4)
    assert image[..., :3].std() > 0.05  # not blank
    assert os.listdir(tmp_path / "sub") == [f"{kind}.png"]  # no temporary file left


def test_save_svg_and_refuse_unknown_format(result, tmp_path):
    fig = plotting.heatmap(result, "val_accuracy")
    path = plotting.save(fig, tmp_path / "h.svg")
    with open(path) as f:
        assert "<svg" in f.read(2000)
    with pytest.raises(ConfigError, match="format"):
        plotting.save(fig, tmp_path / "h.bmp")


# -- mistakes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("call, field", [
    (lambda r: plotting.curves(r, "val_acc"), "metric"),
    (lambda r: plotting.curves(r, facet="bs"), "facet"),
    (lambda r: plotting.curves(r, x="steps"), "x"),
    (lambda r: plotting.curves(r, band="iqr"), "band"),
    (lambda r: plotting.sensitivity(r, "lr"), "metric"),
    (lambda r: plotting.heatmap(r, x="seed", y="seed"), "heatmap"),
    (lambda r: plotting.compare(r, variants=[99]), "variants"),
    (lambda r: plotting.curves(r, color="seed", aggregate="seed"), "color"),
    (lambda r: plotting.sensitivity(r, color="learning_rate"), "color"),
])
def test_mistakes_raise_config_errors_naming_the_field(result, call, field):
    with pytest.raises(ConfigError) as e:
        call(result)
    assert e.value.field == field


def test_plotting_is_headless_and_leaves_pyplot_alone():
    code = ("import sys; from tests.fake_results import fake_result; from jaxlab import plotting;"
            "r = fake_result(); plotting.curves(r, facet='batch_size'); plotting.heatmap(r);"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    env = {**os.environ, "MPLBACKEND": "", "DISPLAY": ""}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=os.path.dirname(os.path.dirname(__file__)), timeout=120)
    assert proc.returncode == 0, proc.stderr
