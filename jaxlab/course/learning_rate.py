"""learning-rate: too small does not move, too large does not converge.

The DataCamp lesson's three SGD learning rates (1e-7, 0.01, 1) and Better Deep Learning's
log grid ("Understand the impact of learning rate"), on 3-class blobs with one hidden layer
of 50 ReLU nodes and plain SGD. The learning rate is data in the optimizer state, so the
whole grid, with its repeats, is one compiled program.
"""

from __future__ import annotations

import numpy as np

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

COURSE = [1e-7, 1e-2, 1.0]  # the lesson's three
GRID = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=problems.sgd(momentum=0.0, loss="categorical_crossentropy",
                           epochs=20 if quick else 200),
        grid={"learning_rate": [1e-7, 1e-4, 1e-2, 1.0, 10.0] if quick else GRID,
              "seed": problems.seeds(quick)},
        name="learning-rate")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    v = result.variants
    first = result.history[result.history.epoch == 1].set_index("variant").loss
    v = v.assign(first_loss=first, moved=(1 - v.final_loss / first).abs(),
                 diverged=v.status == "diverged")
    g = v.groupby("train.learning_rate")
    moved = g.moved.mean()
    final = g.final_loss.mean()
    diverged = g.diverged.mean()
    acc = g.final_val_accuracy.mean()
    lrs = list(final.index)
    small, good, large = min(lrs), 1e-2, max(x for x in lrs if x <= 1.0)
    best = float(np.nanmax(acc[~(diverged > 0)].to_numpy()))
    fails = {lr: bool(diverged[lr] > 0 or acc[lr] < best - 0.15) for lr in lrs}
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="learning_rate", aggregate="seed",
                                   logy=True, title="training loss by SGD learning rate"),
                   "loss_by_learning_rate.png"),
        ctx.figure(plotting.sensitivity(result, "val_accuracy", axis="learning_rate",
                                        aggregate="seed"), "test_accuracy_by_learning_rate.png"),
    )
    numbers = {f"relative_change_at_{lr:g}": ex.number(moved[lr]) for lr in lrs}
    numbers |= {f"final_loss_at_{lr:g}": ex.number(final[lr]) for lr in lrs}
    numbers |= {f"diverged_fraction_at_{lr:g}": ex.number(diverged[lr]) for lr in lrs}
    numbers |= {f"test_accuracy_at_{lr:g}": ex.number(acc[lr]) for lr in lrs}
    holds = moved[small] < 0.05 and moved.get(good, 0) > 0.5 and fails[large]
    too_large = [f"{lr:g}" for lr in lrs if lr >= 1 and fails[lr]]
    return ex.Findings(
        claim="With SGD, a learning rate that is too small (1e-7) barely changes the loss, "
              "a moderate one (0.01) learns, and one that is too large (1) does not converge "
              "to a good model (it oscillates, gets stuck or diverges).",
        holds=holds,
        summary=f"loss changed by {100 * moved[small]:.1f}% at lr={small:g}, by "
                f"{100 * moved.get(good, np.nan):.0f}% at lr=0.01 (test accuracy "
                f"{acc.get(good, np.nan):.2f}); at lr={large:g} test accuracy {acc[large]:.2f}"
                f" (best {best:.2f}, chance 0.33)"
                + (f"; lr={', '.join(too_large)} fail" if too_large else "")
                + f"; {100 * diverged.max():.0f}% of the largest diverge",
        numbers=numbers,
        tables={"By learning rate (mean over seeds)": (
            moved.rename("relative loss change").to_frame().join(final.rename("final loss"))
            .join(diverged.rename("diverged")).join(acc.rename("test accuracy"))
            .reset_index())},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="learning-rate",
    title="SGD at 1e-7, 1e-2, 1 (the course's three) and a log grid: too small does not "
          "move, too large diverges",
    course="DataCamp 'Understanding model optimization'; Better Deep Learning, ch. "
           "'Understand the impact of learning rate'",
    run=run)
