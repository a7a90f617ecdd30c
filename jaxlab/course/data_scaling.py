"""data-scaling: scale the targets (and inputs) of a regression, or SGD blows up.

Better Deep Learning, "Stabilize learning with data scaling": ``make_regression`` (20
inputs, targets in the hundreds), one hidden layer of 25 ReLU nodes, SGD(0.01, momentum
0.9), MSE, 100 epochs, with raw, normalized (min-max) and standardized inputs and targets.
Each scaling is its own data set (a group), but the groups share one compiled program:
the data are arguments, not constants.

Test errors are compared in the targets' own units (each scaled MSE times the target
scale squared).
"""

from __future__ import annotations

import dataclasses

import numpy as np

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

SCALERS = ["none", "minmax", "standardize"]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.regression(),
        model=jl.ModelConfig(width=25, kernel_init="he_uniform"),
        train=problems.sgd(loss="mse", epochs=20 if quick else 100),
        grid={"data.scale_x": SCALERS, "data.scale_y": SCALERS,
              "seed": problems.seeds(quick)},
        name="data-scaling")


def target_scale(data: jl.DataConfig, kind: str) -> float:
    """The factor a scaled target error is multiplied by to be in target units."""
    raw = jl.load(dataclasses.replace(data, scale_x="none", scale_y="none")).y_train
    if kind == "standardize":
        return float(raw.std())
    if kind == "minmax":
        return float(raw.max() - raw.min())
    return 1.0


def run(ctx: ex.Context) -> ex.Findings:
    s = ctx.configure(spec(ctx.quick))
    result = ctx.run(s)
    v = result.variants.copy()
    scale = {k: target_scale(s.data, k) ** 2 for k in SCALERS}
    v["test_mse"] = v.final_val_loss * v["data.scale_y"].map(scale)
    v["diverged"] = v.status == "diverged"
    v.loc[v.diverged, "test_mse"] = np.inf
    variance = float(np.var(jl.load(dataclasses.replace(
        s.data, scale_x="none", scale_y="none")).y_val))
    mse = v.pivot_table(index="data.scale_x", columns="data.scale_y", values="test_mse",
                        aggfunc="median").reindex(index=SCALERS, columns=SCALERS)
    div = v.pivot_table(index="data.scale_x", columns="data.scale_y", values="diverged",
                        aggfunc="mean").reindex(index=SCALERS, columns=SCALERS)
    raw_y = mse["none"]
    scaled_y = mse[["minmax", "standardize"]]
    shown = mse.replace(np.inf, np.nan)
    figures = (
        ctx.figure(ex.bars(shown.rename(columns=lambda c: f"targets {c}"), logy=True,
                           ylabel="test MSE in target units (median; missing = diverged)",
                           title="inputs (x axis) and targets (bars) scaled"),
                   "test_mse_by_scaling.png"),
        ctx.figure(plotting.curves(result, "loss", color="scale_y", facet="scale_x",
                                   aggregate="seed", logy=True,
                                   title="training MSE (scaled units) by input scaling "
                                         "(panels) and target scaling (colour)"),
                   "loss_by_scaling.png"),
    )
    numbers = {"target_variance": variance}
    numbers |= {f"test_mse_x_{x}_y_{y}": ex.number(mse.loc[x, y]) for x in SCALERS
                for y in SCALERS}
    numbers |= {f"diverged_x_{x}_y_{y}": ex.number(div.loc[x, y]) for x in SCALERS
                for y in SCALERS}
    # Raw targets: diverged, or no better than predicting the mean. Scaled: every variant
    # learns (under half the variance), the best explains over 95% of it.
    unscaled_fails = bool(((raw_y > 0.5 * variance) | ~np.isfinite(raw_y)).all())
    scaled_ok = bool((np.isfinite(scaled_y) & (scaled_y < 0.5 * variance)).all().all())
    holds = unscaled_fails and scaled_ok and float(np.nanmin(scaled_y)) < 0.05 * variance
    best = mse.stack().idxmin()
    return ex.Findings(
        claim="Unscaled large targets make the error gradient large and training "
              "unstable (it diverges or learns nothing); scaling the targets fixes it, and "
              "scaling the inputs as well helps further.",
        holds=holds,
        summary="with raw targets every input scaling fails (test MSE "
                + ", ".join(f"{x} {_fmt(raw_y[x])}" for x in SCALERS)
                + f"; target variance {variance:.0f}); with scaled targets test MSE "
                f"{np.nanmin(scaled_y.to_numpy()):.1f}..{np.nanmax(scaled_y.to_numpy()):.1f}, "
                f"best with inputs {best[0]} and targets {best[1]}",
        numbers=numbers,
        tables={"Test MSE in target units (rows: inputs, columns: targets; median)": (
                    mse.reset_index()),
                "Fraction diverged": div.reset_index()},
        figures=figures)


def _fmt(x: float) -> str:
    return "diverged" if not np.isfinite(x) else f"{x:.0f}"


EXPERIMENT = ex.Experiment(
    name="data-scaling",
    title="regression with raw, normalized and standardized inputs and targets",
    course="Better Deep Learning, ch. 'Stabilize learning with data scaling'",
    run=run)

