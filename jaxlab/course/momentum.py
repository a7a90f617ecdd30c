"""momentum: momentum 0.9 reaches a lower loss sooner than plain SGD.

Better Deep Learning, "Understand the impact of learning rate" (momentum dynamics): 3-class
blobs, one hidden layer of 50 ReLU nodes (He uniform), SGD(0.01) with momentum 0, 0.5, 0.9,
0.99 (the course's four), 200 epochs, 5 seeds. The momentum is optimizer-state data: one
compiled program. The claim holds when the training loss at epoch 20 without momentum
minus with 0.9 (paired by seed) has an interval above 0.
"""

from __future__ import annotations

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

AT = 20  # the epoch at which losses are compared
MOMENTA = [0.0, 0.5, 0.9, 0.99]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=AT if quick else 200),
        grid={"momentum": MOMENTA, "seed": problems.seeds(quick, small=5)},
        name="momentum")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    result = stats.with_columns(result, loss_at=stats.at_epoch(result, "loss", AT),
                                loss_5=stats.at_epoch(result, "loss", 5),
                                noise=ex.roughness(result, "val_accuracy"))
    ms = sorted(result.variants["train.momentum"].unique())
    at = {m: stats.at(result, "loss_at", "momentum", m) for m in ms}
    gain = {m: stats.difference(result, "loss_at", "momentum", 0.0, m) for m in ms if m > 0}
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="momentum", aggregate="seed",
                                   title="training loss by momentum (SGD, lr 0.01; mean and "
                                         "band over seeds)"), "loss_by_momentum.png"),
        ctx.figure(plotting.curves(result, "val_accuracy", facet="momentum",
                                   aggregate="seed", title="test accuracy by momentum"),
                   "test_accuracy_by_momentum.png"),
    )
    numbers = {}
    for m in ms:
        numbers |= at[m].numbers(f"loss_at_epoch_{AT}_momentum_{m:g}")
        numbers |= stats.at(result, "loss_5", "momentum", m).numbers(
            f"loss_at_epoch_5_momentum_{m:g}")
        numbers |= stats.at(result, "final_loss", "momentum", m).numbers(
            f"final_loss_momentum_{m:g}")
        numbers |= stats.at(result, "noise", "momentum", m).numbers(
            f"test_accuracy_noise_momentum_{m:g}")
    for m, d in gain.items():
        numbers |= d.numbers(f"loss_at_epoch_{AT}_0_minus_{m:g}")
    numbers |= stats.trend(result, "loss_at", "momentum").numbers(
        f"rank_correlation_momentum_loss_epoch_{AT}")
    numbers["seeds"] = at[0.0].n
    holds = gain[0.9].above(0)
    return ex.Findings(
        claim="Momentum accelerates SGD: with momentum 0.9 the training loss falls faster "
              "than without.",
        holds=holds,
        summary=f"training loss at epoch {AT} (mean [95% CI] over "
                f"{at[0.0].n} seeds) " + ", ".join(f"{at[m]:.3f} at momentum {m:g}" for m in ms)
                + f"; without minus with 0.9: {gain[0.9]:.3f}",
        numbers=numbers,
        tables={"By momentum (mean and 95% CI over seeds)": stats.table(result, {
            "loss, epoch 5": "loss_5", f"loss, epoch {AT}": "loss_at",
            "final loss": "final_loss", "test accuracy noise": "noise"}, "momentum")},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="momentum",
    title="momentum 0, 0.5, 0.9, 0.99: momentum speeds SGD up",
    course="Lesson 'Improving training performance' (momentum); Better Deep Learning, ch. "
           "'Understand the impact of learning rate'",
    run=run)
