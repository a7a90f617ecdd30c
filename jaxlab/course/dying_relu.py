"""dying-relu: large learning rates (and poor inits) kill ReLU units; leaky ReLU cures it.

DataCamp "The dying neuron problem" and the lecture's "dead ReLU" slide: 3-class blobs
(standardized), 4 hidden layers of 20 units, plain SGD over a learning-rate grid and three
initializers. A unit is dead when its activation is 0 on every probe sample
(``train.diagnostics``, computed in the compiled loop). ReLU and leaky ReLU are two
programs; learning rate, initializer and seed are data.
"""

from __future__ import annotations

import jaxlab as jl
from jaxlab.course import framework as ex
from jaxlab.course import problems

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
              "seed": problems.seeds(quick, default=4)},
        name="dying-relu")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    last = result.history.sort_values("epoch").groupby("variant").tail(1).set_index("variant")
    v = result.variants.assign(dead=last.dead_fraction, diverged=result.variants.status
                               == "diverged")
    relu, leaky = v[v["model.activation"] == "relu"], v[v["model.activation"] == "leaky_relu"]
    dead = relu.pivot_table(index="train.learning_rate", columns="model.kernel_init",
                            values="dead", aggfunc="mean")
    dead_lr = relu.groupby("train.learning_rate").dead.mean()
    # Median over seeds: a diverged run (infinite loss) counts as the worst, not as NaN.
    loss = v.pivot_table(index=["train.learning_rate", "model.kernel_init"],
                         columns="model.activation", values="final_loss", aggfunc="median")
    diverged = v.pivot_table(index="train.learning_rate", columns="model.activation",
                             values="diverged", aggfunc="mean")
    lrs = list(dead_lr.index)
    lo, hi = lrs[0], lrs[-1]
    worst = dead.loc[hi].idxmax()  # the initializer that loses most units at the top rate
    cure_relu, cure_leaky = loss.loc[(hi, worst), "relu"], loss.loc[(hi, worst), "leaky_relu"]
    leaky_dead = float(leaky.dead.max())
    figures = (
        ctx.figure(ex.panels({"ReLU: dead fraction at the end": dead,
                              f"median final loss, {worst} init": loss.xs(worst, level=1)},
                             xlabel="learning rate", logx=True, sharey=False, ncols=2,
                             panel_size=(4.6, 3.4),
                             title="dead ReLU units against learning rate and initializer; "
                                   "leaky ReLU has none"),
                   "dead_units_by_learning_rate.png"),
    )
    numbers = {f"dead_fraction_relu_lr_{lr:g}": ex.number(dead_lr[lr]) for lr in lrs}
    numbers |= {f"dead_fraction_relu_lr_{lr:g}_{init}": ex.number(dead.loc[lr, init])
                for lr in lrs for init in dead.columns}
    numbers |= {f"median_loss_{act}_lr_{lr:g}_{init}": ex.number(loss.loc[(lr, init), act])
                for (lr, init) in loss.index for act in loss.columns}
    numbers |= {f"diverged_{act}_lr_{lr:g}": ex.number(diverged.loc[lr, act])
                for lr in lrs for act in diverged.columns}
    numbers |= {"dead_fraction_leaky_max": leaky_dead, "cure_loss_relu": ex.number(cure_relu),
                "cure_loss_leaky_relu": ex.number(cure_leaky)}
    holds = dead_lr[hi] > dead_lr[lo] and leaky_dead < 0.01 and cure_leaky < cure_relu
    return ex.Findings(
        claim="A ReLU unit that only gets negative inputs outputs 0 and gets no gradient: "
              "large updates (a high learning rate) and poor initial weights leave more "
              "units permanently dead; leaky ReLU keeps a slope and does not die.",
        holds=holds,
        summary=f"dead ReLU fraction {dead_lr[lo]:.2f} at lr={lo:g} vs {dead_lr[hi]:.2f} at "
                f"lr={hi:g} (mean over initializers; {worst} init: {dead.loc[lo, worst]:.2f} → "
                f"{dead.loc[hi, worst]:.2f}); leaky ReLU: at most {leaky_dead:.2f} dead, and "
                f"with {worst} init at lr={hi:g} it trains to loss {cure_leaky:.3f} where "
                f"ReLU stays at {cure_relu:.3f} (ln 3 = 1.099); "
                f"{100 * diverged.loc[hi, 'leaky_relu']:.0f}% of leaky runs diverge at "
                f"lr={hi:g}",
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
