"""initialization: zeros and tiny weights stall a deep ReLU network; He init trains it.

The course's "Weight initialization" component (Better Deep Learning, "Challenge of training
deep learning"): circles, 8 hidden ReLU layers of 32 units, SGD(0.01, momentum 0.9), with
zeros, a small normal (std 0.05, Keras' RandomNormal), Glorot uniform and He uniform. The
initializer is per-variant data: one compiled program; per-layer gradient norms from
``train.diagnostics``.
"""

from __future__ import annotations

import math

import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

INITS = ["zeros", "normal", "glorot_uniform", "he_uniform"]
AT = 10


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.circles(),
        model=jl.ModelConfig(width=32, depth=8),
        train=problems.sgd(loss="binary_crossentropy", epochs=AT if quick else 100,
                           diagnostics=True),
        grid={"kernel_init": INITS, "seed": problems.seeds(quick)},
        name="initialization")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    loss = ex.at_epoch(result, "loss", AT, "kernel_init")
    final = ex.by_axis(result, "final_loss", "kernel_init")
    acc = ex.by_axis(result, "final_val_accuracy", "kernel_init")
    per_variant = result.history.groupby("variant").grad_norm_1.mean()
    grad1 = result.variants.assign(g=per_variant).groupby("model.kernel_init").g.mean()
    chance = math.log(2)
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="kernel_init", aggregate="seed",
                                   title="training loss by initializer (8 ReLU layers)"),
                   "loss_by_initializer.png"),
        ctx.figure(plotting.curves(result, "grad_norm_1", color="kernel_init",
                                   aggregate="seed", logy=True,
                                   title="first layer's gradient norm (zeros: exactly 0)"),
                   "first_layer_gradient_by_initializer.png"),
    )
    inits = list(loss.index)
    numbers = {f"loss_at_epoch_{AT}_{k}": ex.number(loss[k]) for k in inits}
    numbers |= {f"final_loss_{k}": ex.number(final[k]) for k in inits}
    numbers |= {f"final_test_accuracy_{k}": ex.number(acc[k]) for k in inits}
    numbers |= {f"first_layer_gradient_{k}": ex.number(grad1[k]) for k in inits}
    numbers["chance_loss"] = chance
    stalled = all(abs(final[k] - chance) < 0.01 for k in ("zeros", "normal"))
    holds = stalled and loss["he_uniform"] < loss["glorot_uniform"] < loss["normal"]
    return ex.Findings(
        claim="Initialization decides whether a deep ReLU network trains: all-zero weights "
              "never break symmetry (no gradient reaches the hidden layers), tiny random "
              "weights make the signal vanish, while Glorot and especially He scaling train.",
        holds=holds,
        summary=f"final training loss zeros {final['zeros']:.3f}, small normal "
                f"{final['normal']:.3f} (ln 2 = {chance:.3f}: nothing learned; first-layer "
                f"gradient {grad1['zeros']:.0e} and {grad1['normal']:.0e}); at epoch {AT} "
                f"Glorot {loss['glorot_uniform']:.3f}, He {loss['he_uniform']:.3f}; final test "
                f"accuracy He {acc['he_uniform']:.2f}, Glorot {acc['glorot_uniform']:.2f}",
        numbers=numbers,
        tables={"By initializer (mean over seeds)": pd.DataFrame({
            f"loss, epoch {AT}": loss, "final loss": final, "final test accuracy": acc,
            "first-layer gradient norm": grad1}).reset_index()},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="initialization",
    title="zeros, small normal, Glorot, He in a deep ReLU net",
    course="Better Deep Learning, ch. 'Challenge of training deep learning' (weight "
           "initialization)",
    run=run)
