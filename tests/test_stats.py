"""jaxlab.course.stats against scipy's own intervals and correlations."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from jaxlab.course import stats


def test_mean_ci_is_scipys_t_interval():
    x = np.array([0.91, 0.95, 0.90, 0.97, 0.93])
    e = stats.mean_ci(x)
    lo, hi = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert (e.mean, e.n) == (pytest.approx(x.mean()), 5)
    assert (e.low, e.high) == (pytest.approx(lo), pytest.approx(hi))
    assert e.excludes(0.5) and e.above(0.8) and not e.excludes(0.93)


def test_one_seed_has_no_interval_and_shows_nothing():
    e = stats.mean_ci([0.7])
    assert e.mean == 0.7 and math.isnan(e.low) and not e.excludes(0.0)


def test_paired_difference_uses_the_seed_pairs():
    a = pd.Series([1.0, 2.0, 3.0, 4.0], index=[0, 1, 2, 3])
    b = a - 0.5 + np.array([0.01, -0.01, 0.02, -0.02])  # large spread, tiny paired noise
    e = stats.diff_ci(a, b)
    res = sps.ttest_rel(a, b).confidence_interval(0.95)
    assert (e.low, e.high) == (pytest.approx(res.low), pytest.approx(res.high))
    assert e.above(0.4)


def test_welch_difference_for_unpaired_samples():
    a, b = [1.0, 1.2, 0.9, 1.1], [0.2, 0.5, 0.1]
    e = stats.diff_ci(a, b)
    res = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    # scipy uses the fractional Welch degrees of freedom; ours rounds them down (wider).
    assert e.low <= res.low + 1e-12 and e.high >= res.high - 1e-12
    assert e.mean == pytest.approx(np.mean(a) - np.mean(b))


def test_spearman_matches_scipy_with_ties_and_infinity():
    x = [1, 2, 3, 4, 5, 6]
    y = [0.3, 0.1, 0.1, np.inf, 0.9, 0.8]
    assert stats.spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic)
    assert math.isnan(stats.spearman(x, [1.0] * 6))


def test_trend_and_difference_over_a_result():
    from fake_results import fake_result

    r = fake_result()  # loss rises with log2(batch size) in every seed
    where = {"learning_rate": 0.001}
    t = stats.trend(r, "final_loss", "batch_size", where=where)
    assert t.n == 2 and t.mean == pytest.approx(1.0) and t.above(0)
    d = stats.difference(r, "final_loss", "batch_size", 64, 4, where=where)
    table = stats.per_seed(r, "final_loss", "batch_size", where=where)
    assert d.mean == pytest.approx((table.loc[64] - table.loc[4]).mean())
    by = stats.by_axis(r, "final_loss", "batch_size", where=where)
    assert list(by.index) == [4, 16, 64] and (by["low"] <= by["mean"]).all()
    assert by["mean"].to_numpy() == pytest.approx(table.mean(axis=1).to_numpy())


def test_per_variant_measures_and_tables_with_intervals():
    from fake_results import fake_result

    r = fake_result()
    h = r.history
    epoch2 = stats.at_epoch(r, "loss", 2)
    for v, value in epoch2.items():  # a variant's value at epoch 2 (or its last before)
        rows = h[(h.variant == v) & (h.epoch <= 2)].sort_values("epoch")
        assert value == rows.loss.iloc[-1]
    r2 = stats.with_columns(r, twice=r.variants.final_loss * 2)
    assert "twice" not in r.variants  # a new result; the old one is unchanged
    np.testing.assert_array_equal(r2.variants.twice, 2 * r.variants.final_loss)
    where = {"learning_rate": 0.001}
    t = stats.table(r2, {"loss": "final_loss", "2x": "twice"}, "batch_size", where=where)
    assert list(t.columns) == ["batch_size", "loss", "loss CI low", "loss CI high", "2x",
                               "2x CI low", "2x CI high"]
    by = stats.by_axis(r, "final_loss", "batch_size", where=where)
    assert t["loss"].to_numpy() == pytest.approx(by["mean"].to_numpy())
    assert t["2x CI high"].to_numpy() == pytest.approx(2 * by["high"].to_numpy())
