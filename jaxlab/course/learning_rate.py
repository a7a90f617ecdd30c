"""learning-rate: too small does not move, too large does not converge.

The DataCamp lesson's three SGD learning rates (1e-7, 0.01, 1) and Better Deep Learning's
log grid 1e-7..1 ("Understand the impact of learning rate"), on 3-class blobs with one
hidden layer of 50 ReLU nodes (He uniform), plain SGD, 200 epochs, 5 seeds. The grid adds
10, beyond the course. The learning rate is data in the optimizer state, so the whole grid,
with its repeats, is one compiled program.

A diverged variant counts at chance accuracy (1/3) and as failing. The claim holds when
the interval of the relative change of the loss lies below 0.1 at 1e-7 and above 0.5 at
0.01, and the test accuracy at 0.01 minus at 1 (paired by seed) has an interval above 0.
"""

from __future__ import annotations

import numpy as np

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

COURSE = [1e-7, 1e-2, 1.0]  # the lesson's three
GRID = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]  # 10: beyond the course
CHANCE = 1 / 3
STILL = 0.1  # "barely changes the loss": the relative change stays under a tenth
LEARNS = 0.5  # "learns": the loss falls by more than half


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=problems.sgd(momentum=0.0, loss="categorical_crossentropy",
                           epochs=100 if quick else 200),
        grid={"learning_rate": [1e-7, 1e-4, 1e-2, 1.0, 10.0] if quick else GRID,
              "seed": problems.seeds(quick, small=5)},
        name="learning-rate")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    v = result.variants
    first = result.history[result.history.epoch == 1].set_index("variant").loss
    diverged = v.status == "diverged"
    acc = v.final_val_accuracy.where(~diverged & np.isfinite(v.final_val_accuracy), CHANCE)
    result = stats.with_columns(result, moved=(1 - v.final_loss / first).abs(),
                                diverged=diverged.astype(float), accuracy=acc)
    lrs = sorted(v["train.learning_rate"].unique())
    small, good, large = min(lrs), 1e-2, 1.0
    est = {(m, lr): stats.at(result, m, "learning_rate", lr)
           for m in ("moved", "accuracy", "diverged") for lr in lrs}
    worse = {lr: stats.difference(result, "accuracy", "learning_rate", good, lr)
             for lr in lrs if lr > good}
    still = est["moved", small].below(STILL)
    learns = est["moved", good].above(LEARNS)
    fails = worse[large].above(0)
    holds = still and learns and fails
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="learning_rate", aggregate="seed",
                                   logy=True, title="training loss by SGD learning rate "
                                   "(mean and band over seeds)"), "loss_by_learning_rate.png"),
        ctx.figure(plotting.sensitivity(result, "val_accuracy", axis="learning_rate",
                                        aggregate="seed"), "test_accuracy_by_learning_rate.png"),
    )
    numbers = {}
    for lr in lrs:
        numbers |= est["moved", lr].numbers(f"relative_change_at_{lr:g}")
        numbers |= stats.at(result, "final_loss", "learning_rate", lr).numbers(
            f"final_loss_at_{lr:g}")
        numbers |= est["diverged", lr].numbers(f"diverged_fraction_at_{lr:g}")
        numbers |= est["accuracy", lr].numbers(f"test_accuracy_at_{lr:g}")
    for lr, d in worse.items():
        numbers |= d.numbers(f"test_accuracy_0.01_minus_{lr:g}")
    numbers["seeds"] = est["moved", small].n
    beyond = [f"{lr:g}" for lr in lrs if lr not in COURSE and lr > 1]
    return ex.Findings(
        claim="With SGD, a learning rate that is too small (1e-7) barely changes the loss, "
              "a moderate one (0.01) learns, and one that is too large (1) does not converge "
              "to a good model (it oscillates, gets stuck or diverges).",
        holds=holds,
        summary=f"(mean [95% CI] over {est['moved', small].n} seeds): "
                f"relative loss change {est['moved', small]:.3f} at lr={small:g} "
                f"({stats.verdict(still)}: below {STILL:g}), {est['moved', good]:.2f} at "
                f"lr=0.01 ({stats.verdict(learns)}: above {LEARNS:g}); test accuracy "
                f"{est['accuracy', good]:.3f} at 0.01 vs {est['accuracy', large]:.3f} at 1, "
                f"difference {worse[large]:.3f} ({stats.verdict(fails)}); diverged fraction at "
                f"1: {est['diverged', large].mean:.2f}"
                + (f"; lr={', '.join(beyond)} is beyond the course's grid" if beyond else ""),
        numbers=numbers,
        tables={"By learning rate (mean and 95% CI over seeds; diverged = chance accuracy)":
                stats.table(result, {"relative loss change": "moved", "final loss":
                                     "final_loss", "diverged": "diverged",
                                     "test accuracy": "accuracy"}, "learning_rate")},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="learning-rate",
    title="SGD at 1e-7, 1e-2, 1 (the course's three) and a log grid: too small does not "
          "move, too large diverges",
    course="DataCamp 'Understanding model optimization'; Better Deep Learning, ch. "
           "'Understand the impact of learning rate'",
    run=run)
