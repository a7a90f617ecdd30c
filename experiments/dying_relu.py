"""dying-relu: large learning rates (and poor inits) kill ReLU units; leaky ReLU cures it.

DataCamp "The dying neuron problem" and the lecture's "dead ReLU" slide: 3-class blobs
(standardized), 4 hidden layers of 20 units, plain SGD over a learning-rate grid and three
initializers. A unit is dead when its activation is 0 on every probe sample
(``train.diagnostics``, computed in the compiled loop). ReLU and leaky ReLU are two
programs; learning rate, initializer and seed are data.
"""

from __future__ import annotations

import jaxlab as jl
from experiments import problems
from jaxlab import experiments as ex

LRS = [0.001, 0.01, 0.1, 0.3, 0.6]
INITS = ["he_uniform", "glorot_uniform", "normal"]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(scale_x="standardize"),
        model=jl.ModelConfig(width=20, depth=4),
        train=problems.sgd(momentum=0.0, loss="categorical_crossentropy",
                           epochs=10 if quick else 50, diagnostics=True),
        grid={"activation": ["relu", "leaky_relu"],
              "learning_rate": [0.001, 0.6] if quick else LRS,
              "kernel_init": ["he_uniform", "normal"] if quick else INITS,
              "seed": problems.seeds(quick, default=4)},
        name="dying-relu")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    last = result.history.sort_values("epoch").groupby("variant").tail(1).set_index("variant")
    v = result.variants.assign(dead=last.dead_fraction, loss=last.loss)
    relu, leaky = v[v["model.activation"] == "relu"], v[v["model.activation"] == "leaky_relu"]
    dead = relu.pivot_table(index="train.learning_rate", columns="model.kernel_init",
                            values="dead", aggfunc="mean")
    dead_lr = relu.groupby("train.learning_rate").dead.mean()
    loss = v.pivot_table(index="train.learning_rate", columns="model.activation",
                         values="final_loss", aggfunc="median")
    diverged = v.assign(d=v.status == "diverged").pivot_table(
        index="train.learning_rate", columns="model.activation", values="d", aggfunc="mean")
    lrs = list(dead_lr.index)
    lo, hi = lrs[0], lrs[-1]
    leaky_dead = float(leaky.dead.max())
    figures = (
        ctx.figure(ex.panels({"ReLU: dead fraction at the end": dead,
                              "median final loss": loss}, xlabel="learning rate",
                             logx=True, sharey=False, ncols=2, panel_size=(4.6, 3.4),
                             title="dead ReLU units against learning rate and "
                                   "initializer; leaky ReLU has none"),
                   "dead_units_by_learning_rate.png"),
    )
    numbers = {f"dead_fraction_relu_lr_{lr:g}": ex.number(dead_lr[lr]) for lr in lrs}
    numbers |= {f"dead_fraction_relu_lr_{lr:g}_{init}": ex.number(dead.loc[lr, init])
                for lr in lrs for init in dead.columns}
    numbers |= {f"median_loss_{act}_lr_{lr:g}": ex.number(loss.loc[lr, act])
                for lr in lrs for act in loss.columns}
    numbers |= {f"diverged_{act}_lr_{lr:g}": ex.number(diverged.loc[lr, act])
                for lr in lrs for act in diverged.columns}
    numbers["dead_fraction_leaky_max"] = leaky_dead
    holds = (dead_lr[hi] > dead_lr[lo] and leaky_dead < 0.01
             and loss.loc[hi, "leaky_relu"] < loss.loc[hi, "relu"])
    worst = dead.loc[hi].idxmax()
    return ex.Findings(
        claim="A ReLU unit that only gets negative inputs outputs 0 and gets no gradient: "
              "large updates (a high learning rate) and poor initial weights leave more "
              "units permanently dead; leaky ReLU keeps a slope and does not die.",
        holds=holds,
        summary=f"dead ReLU fraction {dead_lr[lo]:.2f} at lr={lo:g} vs {dead_lr[hi]:.2f} at "
                f"lr={hi:g} (worst init at lr={hi:g}: {worst}, {dead.loc[hi, worst]:.2f}); "
                f"leaky ReLU: at most {leaky_dead:.2f} dead, median final loss at lr={hi:g} "
                f"{loss.loc[hi, 'leaky_relu']:.3f} vs ReLU {loss.loc[hi, 'relu']:.3f}",
        numbers=numbers,
        tables={"ReLU dead fraction (rows: learning rate, columns: initializer)": (
                    dead.reset_index()),
                "Median final training loss": loss.reset_index(),
                "Fraction of variants diverged": diverged.reset_index()},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="dying-relu",
    title="dead-unit fraction against learning rate and init; leaky ReLU as the cure",
    course="DataCamp 'The dying neuron problem'; lecture 'Training neural networks' (dead "
           "ReLUs)",
    run=run)
