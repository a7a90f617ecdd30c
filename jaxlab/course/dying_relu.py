"""dying-relu: large learning rates (and poor inits) kill ReLU units; leaky ReLU cures it.

DataCamp "The dying neuron problem" and the lecture's "dead ReLU" slide: 3-class blobs
(standardized), 4 hidden layers of 20 units, plain SGD over a learning-rate grid and three
initializers. A unit is dead when its activation is 0 on every probe sample
(``train.diagnostics``, computed in the compiled loop). ReLU and leaky ReLU are two
programs; learning rate, initializer and seed (5) are data. The claim holds when the rank
correlation of learning rate and dead fraction (ReLU, one per seed) has an interval above 0,
no leaky unit dies, and at the top rate with the worst initializer ReLU's final loss minus
leaky ReLU's (paired by seed; a diverged run counts as infinite) has an interval above 0.
"""

from __future__ import annotations

import numpy as np

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

LRS = [0.001, 0.01, 0.1, 0.3, 1.0]
INITS = ["he_uniform", "glorot_uniform", "normal"]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(scale_x="standardize"),
        model=jl.ModelConfig(width=20, depth=4),
        train=problems.sgd(momentum=0.0, loss="categorical_crossentropy",
                           epochs=30 if quick else 50, diagnostics=True),
        grid={"activation": ["relu", "leaky_relu"],
              "learning_rate": [0.001, 1.0] if quick else LRS,
              "kernel_init": ["he_uniform", "normal"] if quick else INITS,
              "seed": problems.seeds(quick, small=5)},
        name="dying-relu")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    v = result.variants
    diverged = v.status == "diverged"
    result = stats.with_columns(
        result, dead=stats.at_epoch(result, "dead_fraction", int(result.history.epoch.max())),
        diverged=diverged.astype(float),
        # A diverged run learned nothing: its loss counts as infinite (the worst).
        end_loss=v.final_loss.where(~diverged, np.inf))
    relu = {"activation": "relu"}
    lrs = sorted(v["train.learning_rate"].unique())
    inits = sorted(v["model.kernel_init"].unique())
    lo, hi = lrs[0], lrs[-1]
    rises = stats.trend(result, "dead", "learning_rate", where=relu)
    dead = {lr: stats.at(result, "dead", "learning_rate", lr, where=relu) for lr in lrs}
    dead_init = {(lr, k): stats.at(result, "dead", "learning_rate", lr,
                                   where={**relu, "kernel_init": k}) for lr in lrs for k in inits}
    worst = max(inits, key=lambda k: dead_init[hi, k].mean)  # most units lost at the top rate
    leaky = stats.mean_ci(stats.per_seed(result, "dead", "activation").loc["leaky_relu"])
    leaky_max = float(result.variants.dead[v["model.activation"] == "leaky_relu"].max())
    cure = stats.difference(result, "end_loss", "activation", "relu", "leaky_relu",
                            where={"learning_rate": hi, "kernel_init": worst})
    loss = {(lr, a): stats.at(result, "end_loss", "activation", a,
                              where={"learning_rate": lr, "kernel_init": worst})
            for lr in lrs for a in ("relu", "leaky_relu")}
    table = stats.table(result, {"dead fraction": "dead"}, "learning_rate", where=relu)
    figures = (
        ctx.figure(ex.panels({"ReLU: dead fraction at the end (mean over seeds)":
                              stats.per_seed(result, "dead", "learning_rate", where=relu)
                              .mean(axis=1).to_frame("all initializers")
                              .join(result.variants[v["model.activation"] == "relu"]
                                    .pivot_table(index="train.learning_rate",
                                                 columns="model.kernel_init", values="dead",
                                                 aggfunc="mean"))},
                             xlabel="learning rate", logx=True, panel_size=(5.0, 3.4),
                             title="dead ReLU units against learning rate and initializer; "
                                   "leaky ReLU has none"),
                   "dead_units_by_learning_rate.png"),
        ctx.figure(plotting.sensitivity(result, "loss", axis="learning_rate",
                                        color="activation", aggregate="seed"),
                   "final_loss_by_learning_rate.png"),
    )
    numbers = {"dead_fraction_leaky_max": leaky_max, "seeds": rises.n}
    numbers |= leaky.numbers("dead_fraction_leaky")
    numbers |= rises.numbers("rank_correlation_learning_rate_dead_relu")
    numbers |= cure.numbers("cure_loss_relu_minus_leaky")
    numbers |= loss[hi, "relu"].numbers("cure_loss_relu")
    numbers |= loss[hi, "leaky_relu"].numbers("cure_loss_leaky_relu")
    for lr in lrs:
        numbers |= dead[lr].numbers(f"dead_fraction_relu_lr_{lr:g}")
        for k in inits:
            numbers |= dead_init[lr, k].numbers(f"dead_fraction_relu_lr_{lr:g}_{k}")
        for a in ("relu", "leaky_relu"):
            numbers |= stats.at(result, "diverged", "learning_rate", lr,
                                where={"activation": a}).numbers(f"diverged_{a}_lr_{lr:g}")
    holds = rises.above(0) and leaky_max < 0.01 and cure.above(0)
    return ex.Findings(
        claim="A ReLU unit that only gets negative inputs outputs 0 and gets no gradient: "
              "large updates (a high learning rate) and poor initial weights leave more "
              "units permanently dead; leaky ReLU keeps a slope and does not die.",
        holds=holds,
        summary=f"(mean [95% CI] over {rises.n} seeds): dead ReLU "
                f"fraction {dead[lo]:.2f} at lr={lo:g} vs {dead[hi]:.2f} at lr={hi:g} (rank "
                f"correlation with the learning rate {rises:.2f}; {worst} init: "
                f"{dead_init[lo, worst].mean:.2f} → {dead_init[hi, worst].mean:.2f}); leaky "
                f"ReLU: at most {leaky_max:.2f} dead; with {worst} init at lr={hi:g} final "
                f"loss ReLU {loss[hi, 'relu']:.3f} vs leaky {loss[hi, 'leaky_relu']:.3f} (ln 3"
                f" = 1.099; difference {cure:.3f}, {stats.verdict(cure.above(0))})",
        numbers=numbers,
        tables={"ReLU dead fraction by learning rate (mean and 95% CI over seeds and "
                "initializers)": table,
                f"Final training loss, {worst} init (mean and 95% CI; diverged = inf)":
                    stats.table(result, {"ReLU": "end_loss"}, "learning_rate",
                                where={"activation": "relu", "kernel_init": worst})
                    .merge(stats.table(result, {"leaky ReLU": "end_loss"}, "learning_rate",
                                       where={"activation": "leaky_relu",
                                              "kernel_init": worst}))},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="dying-relu",
    title="dead-unit fraction against learning rate and init; leaky ReLU as the cure",
    course="DataCamp 'The dying neuron problem'; lecture 'Training neural networks' (dead "
           "ReLUs)",
    run=run)
