"""capacity-layers: more hidden layers of 10 nodes on the same problem; the deepest get stuck.

Better Deep Learning, "Configure capacity with nodes and layers", the book's code: 1..5
hidden ReLU layers of 10 nodes (he_uniform) -> a softmax output at Keras' default
glorot_uniform, on 20-class blobs, SGD(0.01, momentum 0.9), categorical cross-entropy, 100
epochs, batch 32. Five seeds. Depth is vectorized (skipped layers are masked), so every
depth and every seed is one compiled program.
"""

from __future__ import annotations

import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

EARLY = 20  # the epoch at which learning speed is compared


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs20(),
        # The course: he_uniform hidden layers, the output Dense at Keras' glorot_uniform.
        model=jl.ModelConfig(width=10, kernel_init="he_uniform", output_init="glorot_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=EARLY if quick else 100),
        grid={"depth": [1, 3, 5] if quick else [1, 2, 3, 4, 5],
              "seed": problems.seeds(quick, small=5)},
        name="capacity-layers")


def _at_epoch(result: jl.Result, metric: str, epoch: int) -> pd.DataFrame:
    """``metric`` at ``epoch`` (a variant's last epoch if it stopped earlier): depth x seed."""
    h = result.history
    last = h[h.epoch <= epoch].sort_values("epoch").groupby("variant").tail(1)
    return last.pivot_table(index=ex._axis(result, "depth"), columns=ex._axis(result, "seed"),
                            values=metric, aggfunc="mean")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    early = _at_epoch(result, "loss", EARLY)
    depths = list(early.index)
    lo, hi = depths[0], depths[-1]
    early_est = {d: stats.mean_ci(early.loc[d]) for d in depths}
    early_trend = stats.mean_ci([stats.spearman(depths, early[s]) for s in early.columns])
    slower = stats.diff_ci(early.loc[hi], early.loc[lo])  # > 0: the deepest learns slower
    final = stats.by_axis(result, "final_loss", "depth")
    acc = stats.by_axis(result, "final_val_accuracy", "depth")
    acc_at = {d: stats.at(result, "final_val_accuracy", "depth", d) for d in depths}
    acc_drop = stats.difference(result, "final_val_accuracy", "depth", lo, hi)
    epochs = int(result.history.epoch.max())
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="depth", aggregate="seed",
                                   title="training loss by number of hidden layers (mean, "
                                         "band over seeds)"), "loss_by_depth.png"),
        ctx.figure(plotting.sensitivity(result, "val_accuracy", axis="depth",
                                        aggregate="seed"), "test_accuracy_by_depth.png"),
    )
    numbers = {}
    for d in depths:
        numbers |= early_est[d].numbers(f"loss_at_epoch_{EARLY}_depth_{d}")
        numbers |= stats.at(result, "final_loss", "depth", d).numbers(f"final_loss_depth_{d}")
        numbers |= acc_at[d].numbers(f"test_accuracy_depth_{d}")
    numbers |= early_trend.numbers(f"rank_correlation_depth_loss_epoch_{EARLY}")
    numbers |= slower.numbers(f"loss_epoch_{EARLY}_deepest_minus_shallowest")
    numbers |= acc_drop.numbers("test_accuracy_shallowest_minus_deepest")
    # A trend over depth: the rank correlation of depth with the early training loss.
    holds = early_trend.above(0)
    return ex.Findings(
        claim="More layers add capacity, but with too many layers the model learns the "
              "training set more slowly or gets stuck during optimization.",
        holds=holds,
        summary=f"training loss at epoch {EARLY} "
                f"{early_est[lo]:.3f} with {lo} layer vs {early_est[hi]:.3f} with {hi} "
                f"(difference {slower:.3f}; rank correlation with depth {early_trend:.2f}); "
                f"test accuracy after {epochs} epochs {acc_at[lo]:.2f} vs {acc_at[hi]:.2f} "
                f"(mean [95% CI] over {int(acc.n.min())} seeds)",
        numbers=numbers,
        tables={"By depth (mean and 95% CI over seeds)": (
            pd.DataFrame({f"train loss at epoch {EARLY} {k}": [getattr(early_est[d], k)
                                                              for d in depths]
                          for k in ("mean", "low", "high")}, index=depths)
            .join(final[["mean", "low", "high"]].add_prefix("final train loss "))
            .join(acc[["mean", "low", "high"]].add_prefix("test accuracy "))
            .rename_axis("depth").reset_index())},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="capacity-layers",
    title="the same problem: 1..5 hidden layers; deeper learns slower, the deepest get stuck",
    course="Better Deep Learning, ch. 'Configure capacity with nodes and layers'",
    run=run)
