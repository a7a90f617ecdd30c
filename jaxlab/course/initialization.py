"""initialization: zeros and tiny weights stall a deep ReLU network; He init trains it.

The course's "Weight initialization" component (Better Deep Learning, "Challenge of training
deep learning"): circles, 8 hidden ReLU layers of 32 units, SGD(0.01, momentum 0.9), with
zeros, a small normal (std 0.05, Keras' RandomNormal), Glorot uniform and He uniform. The
initializer is per-variant data: one compiled program; per-layer gradient norms from
``train.diagnostics``; 5 seeds. The course's component has no code of its own: the network
and the four initializers are this study's choice. The claim holds when zeros and the small
normal end within 0.01 of ln 2 (whole interval) and Glorot and He end with a lower loss
than the small normal (paired differences above 0); He ahead of Glorot at epoch 10 is
reported with its own interval.
"""

from __future__ import annotations

import math

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

INITS = ["zeros", "normal", "glorot_uniform", "he_uniform"]
AT = 10


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.circles(),
        model=jl.ModelConfig(width=32, depth=8),
        train=problems.sgd(loss="binary_crossentropy", epochs=30 if quick else 100,
                           diagnostics=True),
        grid={"kernel_init": INITS, "seed": problems.seeds(quick, small=5)},
        name="initialization")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    result = stats.with_columns(result, loss_at=stats.at_epoch(result, "loss", AT),
                                grad1=result.history.groupby("variant").grad_norm_1.mean())
    chance = math.log(2)
    loss = {k: stats.at(result, "loss_at", "kernel_init", k) for k in INITS}
    final = {k: stats.at(result, "final_loss", "kernel_init", k) for k in INITS}
    acc = {k: stats.at(result, "final_val_accuracy", "kernel_init", k) for k in INITS}
    grad1 = {k: stats.at(result, "grad1", "kernel_init", k) for k in INITS}
    # Trained below the small normal's final loss (paired by seed): Glorot, He; and He
    # ahead of Glorot at epoch AT.
    gain = {k: stats.difference(result, "final_loss", "kernel_init", "normal", k)
            for k in ("glorot_uniform", "he_uniform")}
    he_vs_glorot = stats.difference(result, "loss_at", "kernel_init", "glorot_uniform",
                                    "he_uniform")
    stalled = {k: final[k].low > chance - 0.01 and final[k].high < chance + 0.01
               for k in ("zeros", "normal")}
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="kernel_init", aggregate="seed",
                                   title="training loss by initializer (8 ReLU layers; mean "
                                         "and band over seeds)"), "loss_by_initializer.png"),
        ctx.figure(plotting.curves(result, "grad_norm_1", color="kernel_init",
                                   aggregate="seed", logy=True,
                                   title="first layer's gradient norm (zeros: exactly 0)"),
                   "first_layer_gradient_by_initializer.png"),
    )
    numbers = {"chance_loss": chance, "seeds": loss["zeros"].n}
    for k in INITS:
        numbers |= loss[k].numbers(f"loss_at_epoch_{AT}_{k}")
        numbers |= final[k].numbers(f"final_loss_{k}")
        numbers |= acc[k].numbers(f"final_test_accuracy_{k}")
        numbers |= grad1[k].numbers(f"first_layer_gradient_{k}")
    for k, d in gain.items():
        numbers |= d.numbers(f"final_loss_normal_minus_{k}")
    numbers |= he_vs_glorot.numbers(f"loss_at_epoch_{AT}_glorot_minus_he")
    trains = all(d.above(0) for d in gain.values())
    holds = all(stalled.values()) and trains
    return ex.Findings(
        claim="Initialization decides whether a deep ReLU network trains: all-zero weights "
              "never break symmetry (no gradient reaches the hidden layers), tiny random "
              "weights make the signal vanish, while Glorot and especially He scaling train.",
        holds=holds,
        summary=f"(mean [95% CI] over {loss['zeros'].n} seeds): final "
                f"training loss zeros {final['zeros']:.3f}, small normal {final['normal']:.3f}"
                f" (ln 2 = {chance:.3f}: nothing learned, {stats.verdict(all(stalled.values()))}"
                f"; first-layer gradient {grad1['zeros'].mean:.0e} and "
                f"{grad1['normal'].mean:.0e}); final loss Glorot "
                f"{final['glorot_uniform']:.3f}, He {final['he_uniform']:.3f} (below the small "
                f"normal's: {stats.verdict(trains)}); at epoch {AT} He below Glorot by "
                f"{he_vs_glorot:.3f} ({stats.verdict(he_vs_glorot.above(0))}); final test "
                f"accuracy He "
                f"{acc['he_uniform']:.3f}, Glorot {acc['glorot_uniform']:.3f}",
        numbers=numbers,
        tables={"By initializer (mean and 95% CI over seeds)": stats.table(result, {
            f"loss, epoch {AT}": "loss_at", "final loss": "final_loss",
            "final test accuracy": "final_val_accuracy",
            "first-layer gradient norm": "grad1"}, "kernel_init")},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="initialization",
    title="zeros, small normal, Glorot, He in a deep ReLU net",
    course="Better Deep Learning, ch. 'Challenge of training deep learning' (weight "
           "initialization)",
    run=run)
