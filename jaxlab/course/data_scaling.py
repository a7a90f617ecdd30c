"""data-scaling: scale the targets (and inputs) of a regression, or SGD blows up.

Better Deep Learning, "Stabilize learning with data scaling": ``make_regression`` (20
inputs, targets in the hundreds), one hidden layer of 25 ReLU nodes, SGD(0.01, momentum
0.9), MSE, 100 epochs, with raw, normalized (min-max) and standardized inputs and targets.
Each scaling is its own data set (a group), but the groups share one compiled program:
the data are arguments, not constants.

Test errors are compared in the targets' own units (each scaled MSE times the target
scale squared), as means with 95% intervals over 5 seeds; a diverged run counts as
infinite. The course standardizes the targets; min-max scaled targets are beyond it. The
claim holds when, with raw targets, every input scaling fails (all runs diverge, or the
whole interval lies above half the target variance) and, with standardized targets, every
interval lies below half the variance; whether scaled inputs help further, and min-max
scaled targets, are reported with their own intervals.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

SCALERS = ["none", "minmax", "standardize"]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.regression(),
        model=jl.ModelConfig(width=25, kernel_init="he_uniform"),
        train=problems.sgd(loss="mse", epochs=20 if quick else 100),
        grid={"data.scale_x": SCALERS, "data.scale_y": SCALERS,
              "seed": problems.seeds(quick, small=5)},
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
    v = result.variants
    scale = {k: target_scale(s.data, k) ** 2 for k in SCALERS}
    diverged = v.status == "diverged"
    result = stats.with_columns(
        result, diverged=diverged.astype(float),
        test_mse=(v.final_val_loss * v["data.scale_y"].map(scale)).where(~diverged, np.inf))
    variance = float(np.var(jl.load(dataclasses.replace(
        s.data, scale_x="none", scale_y="none")).y_val))
    mse = {(x, y): stats.at(result, "test_mse", "scale_x", x, where={"scale_y": y})
           for x in SCALERS for y in SCALERS}
    div = {(x, y): stats.at(result, "diverged", "scale_x", x, where={"scale_y": y})
           for x in SCALERS for y in SCALERS}
    # Raw targets fail: every run diverged, or the whole interval above half the variance.
    # Scaled targets learn: the whole interval below half the variance.
    fails = {x: div[x, "none"].mean == 1 or mse[x, "none"].above(0.5 * variance)
             for x in SCALERS}
    learns = {x: mse[x, "standardize"].below(0.5 * variance) for x in SCALERS}
    minmax = {x: mse[x, "minmax"].below(0.5 * variance) for x in SCALERS}  # beyond the course
    # The course's second experiment: standardized targets, inputs scaled or not.
    inputs = {x: stats.difference(result, "test_mse", "scale_x", "none", x,
                                  where={"scale_y": "standardize"})
              for x in ("minmax", "standardize")}
    holds = all(fails.values()) and all(learns.values())
    shown = pd.DataFrame({f"targets {y}": [mse[x, y].mean for x in SCALERS]
                          for y in SCALERS}, index=SCALERS).replace(np.inf, np.nan)
    half = pd.DataFrame({f"targets {y}_std": [mse[x, y].half_width for x in SCALERS]
                         for y in SCALERS}, index=SCALERS)
    figures = (
        ctx.figure(ex.bars(shown.join(half), logy=True,
                           ylabel="test MSE in target units (mean, 95% CI; missing = "
                                  "diverged)",
                           title="inputs (x axis) and targets (bars) scaled"),
                   "test_mse_by_scaling.png"),
        ctx.figure(plotting.curves(result, "loss", color="scale_y", facet="scale_x",
                                   aggregate="seed", logy=True,
                                   title="training MSE (scaled units) by input scaling "
                                         "(panels) and target scaling (colour)"),
                   "loss_by_scaling.png"),
    )
    numbers = {"target_variance": variance, "seeds": mse["none", "standardize"].n}
    for (x, y), e in mse.items():
        numbers |= e.numbers(f"test_mse_x_{x}_y_{y}")
        numbers |= div[x, y].numbers(f"diverged_x_{x}_y_{y}")
    for x, d in inputs.items():
        numbers |= d.numbers(f"test_mse_y_standardize_x_none_minus_{x}")
    table = pd.concat({y: stats.table(result, {"test MSE": "test_mse", "diverged": "diverged"},
                                      "scale_x", where={"scale_y": y}) for y in SCALERS},
                      names=["targets"]).reset_index(level=0)
    return ex.Findings(
        claim="Unscaled large targets make the error gradient large and training "
              "unstable (it diverges or learns nothing); scaling the targets fixes it, and "
              "scaling the inputs as well helps further.",
        holds=holds,
        summary=f"(mean [95% CI] over {numbers['seeds']} seeds; target "
                f"variance {variance:.0f}): with raw targets test MSE "
                + ", ".join(f"inputs {x} {_fmt(mse[x, 'none'])}" for x in SCALERS)
                + "; with standardized targets "
                + ", ".join(f"inputs {x} {mse[x, 'standardize']:.2f}" for x in SCALERS)
                + "; scaling the inputs as well (unscaled minus scaled, standardized "
                  "targets): " + ", ".join(f"{x} {d:.2f} ({stats.verdict(d.above(0))})"
                                           for x, d in inputs.items())
                + "; beyond the course (it standardizes the targets), min-max scaled targets: "
                + ", ".join(f"inputs {x} {mse[x, 'minmax']:.0f}" for x in SCALERS)
                + f" (below half the variance: {stats.verdict(all(minmax.values()))})",
        numbers=numbers,
        tables={"Test MSE in target units by input scaling and target scaling (mean and 95% "
                "CI over seeds; diverged = inf)": table},
        figures=figures)


def _fmt(e: stats.Estimate) -> str:
    return "diverged" if not np.isfinite(e.mean) else f"{e:.0f}"


EXPERIMENT = ex.Experiment(
    name="data-scaling",
    title="regression with raw, normalized and standardized inputs and targets",
    course="Better Deep Learning, ch. 'Stabilize learning with data scaling'",
    run=run)

