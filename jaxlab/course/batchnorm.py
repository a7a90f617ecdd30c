"""batchnorm: batch normalization accelerates learning.

Better Deep Learning, "Accelerate learning with batch normalization": circles, one hidden
layer of 50 ReLU nodes (He uniform), SGD(0.01, momentum 0.9), binary cross-entropy, 100
epochs, 5 seeds; without batch norm, and with it after (the course's first placement) or
before the activation (its second). Batch norm changes the program (three compiles); seeds
are data. The claim holds when the training loss at epoch 5 without batch norm minus with
it after the activation (paired by seed) has an interval above 0.
"""

from __future__ import annotations

import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

AT = 5  # an early epoch: where faster convergence shows
KINDS = ["none", "after", "before"]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.circles(),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=problems.sgd(loss="binary_crossentropy", epochs=10 if quick else 100),
        grid={"batch_norm": KINDS, "seed": problems.seeds(quick, small=5)},
        name="batchnorm")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    result = stats.with_columns(result, loss_at=stats.at_epoch(result, "loss", AT),
                                acc_at=stats.at_epoch(result, "val_accuracy", AT))
    loss = {k: stats.at(result, "loss_at", "batch_norm", k) for k in KINDS}
    acc = {k: stats.at(result, "acc_at", "batch_norm", k) for k in KINDS}
    final = {k: stats.at(result, "final_val_accuracy", "batch_norm", k) for k in KINDS}
    gain = {k: stats.difference(result, "loss_at", "batch_norm", "none", k)
            for k in ("after", "before")}
    train = ex.curve_mean(result, "accuracy", "batch_norm")
    val = ex.curve_mean(result, "val_accuracy", "batch_norm")
    frames = {f"batch norm: {k}": pd.DataFrame({"train": train[k], "test": val[k]})
              for k in KINDS if k in train}
    figures = (
        ctx.figure(ex.panels(frames, ylabel="accuracy", ncols=3,
                             title="accuracy without and with batch normalization (mean over "
                                   "seeds)"), "accuracy_batchnorm.png"),
        ctx.figure(plotting.curves(result, "loss", color="batch_norm", aggregate="seed",
                                   title="training loss (mean and band over seeds)"),
                   "loss_batchnorm.png"),
    )
    numbers = {}
    for k in KINDS:
        numbers |= loss[k].numbers(f"loss_at_epoch_{AT}_{k}")
        numbers |= acc[k].numbers(f"test_accuracy_at_epoch_{AT}_{k}")
        numbers |= final[k].numbers(f"final_test_accuracy_{k}")
        numbers |= stats.at(result, "final_loss", "batch_norm", k).numbers(f"final_loss_{k}")
    for k, d in gain.items():
        numbers |= d.numbers(f"loss_at_epoch_{AT}_none_minus_{k}")
    numbers["seeds"] = loss["none"].n
    holds = gain["after"].above(0)
    return ex.Findings(
        claim="Batch normalization after the hidden layer accelerates learning: the "
              "training loss falls faster than without it.",
        holds=holds,
        summary=f"training loss at epoch {AT} (mean [95% CI] over "
                f"{loss['none'].n} seeds) {loss['none']:.3f} without, {loss['after']:.3f} "
                f"with batch norm after the activation (difference {gain['after']:.3f}), "
                f"{loss['before']:.3f} before it (difference {gain['before']:.3f}, "
                f"{stats.verdict(gain['before'].above(0))}); final test accuracy "
                f"{final['none']:.3f} / {final['after']:.3f} / {final['before']:.3f}",
        numbers=numbers,
        tables={"By placement (mean and 95% CI over seeds)": stats.table(result, {
            f"loss, epoch {AT}": "loss_at", f"test accuracy, epoch {AT}": "acc_at",
            "final loss": "final_loss", "final test accuracy": "final_val_accuracy"},
            "batch_norm")},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="batchnorm",
    title="with and without batch norm, before and after the activation; faster "
          "convergence",
    course="Better Deep Learning, ch. 'Accelerate learning with batch normalization'",
    run=run)
