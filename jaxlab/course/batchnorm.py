"""batchnorm: batch normalization accelerates learning.

Better Deep Learning, "Accelerate learning with batch normalization": circles, one hidden
layer of 50 ReLU nodes, SGD(0.01, momentum 0.9), binary cross-entropy, 100 epochs; without
batch norm, and with it after (the course's placement) or before the activation. Batch
norm changes the program (three compiles); seeds are data.
"""

from __future__ import annotations

import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

AT = 5  # an early epoch: where faster convergence shows


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.circles(),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=problems.sgd(loss="binary_crossentropy", epochs=10 if quick else 100),
        grid={"batch_norm": ["none", "after", "before"], "seed": problems.seeds(quick)},
        name="batchnorm")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    loss = ex.at_epoch(result, "loss", AT, "batch_norm")
    acc = ex.at_epoch(result, "val_accuracy", AT, "batch_norm")
    final = ex.by_axis(result, "final_val_accuracy", "batch_norm")
    final_loss = ex.by_axis(result, "final_loss", "batch_norm")
    train = ex.curve_mean(result, "accuracy", "batch_norm")
    val = ex.curve_mean(result, "val_accuracy", "batch_norm")
    frames = {f"batch norm: {k}": pd.DataFrame({"train": train[k], "test": val[k]})
              for k in ["none", "after", "before"] if k in train}
    figures = (
        ctx.figure(ex.panels(frames, ylabel="accuracy", ncols=3,
                             title="accuracy without and with batch normalization (mean over "
                                   "seeds)"), "accuracy_batchnorm.png"),
        ctx.figure(plotting.curves(result, "loss", color="batch_norm", aggregate="seed",
                                   title="training loss"), "loss_batchnorm.png"),
    )
    kinds = list(loss.index)
    numbers = {f"loss_at_epoch_{AT}_{k}": ex.number(loss[k]) for k in kinds}
    numbers |= {f"test_accuracy_at_epoch_{AT}_{k}": ex.number(acc[k]) for k in kinds}
    numbers |= {f"final_test_accuracy_{k}": ex.number(final[k]) for k in kinds}
    numbers |= {f"final_loss_{k}": ex.number(final_loss[k]) for k in kinds}
    holds = loss["after"] < loss["none"]
    return ex.Findings(
        claim="Batch normalization after the hidden layer accelerates learning: the "
              "training loss falls faster than without it.",
        holds=holds,
        summary=f"training loss at epoch {AT}: {loss['none']:.3f} without, "
                f"{loss['after']:.3f} with batch norm after the activation, "
                f"{loss.get('before', float('nan')):.3f} before it; test accuracy at epoch "
                f"{AT} {acc['none']:.2f} / {acc['after']:.2f} / "
                f"{acc.get('before', float('nan')):.2f}, final "
                f"{final['none']:.2f} / {final['after']:.2f} / "
                f"{final.get('before', float('nan')):.2f}",
        numbers=numbers,
        tables={"By placement (mean over seeds)": pd.DataFrame({
            f"loss, epoch {AT}": loss, f"test accuracy, epoch {AT}": acc,
            "final loss": final_loss, "final test accuracy": final}).reset_index()},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="batchnorm",
    title="with and without batch norm, before and after the activation; faster "
          "convergence",
    course="Better Deep Learning, ch. 'Accelerate learning with batch normalization'",
    run=run)
