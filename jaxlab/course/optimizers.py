"""optimizers: SGD, momentum, RMSprop, Adagrad and Adam on one problem.

Better Deep Learning, "Understand the impact of learning rate" (adaptive learning rates) and
"Adam": 3-class blobs, one hidden layer of 50 ReLU nodes, each optimizer with Keras' default
learning rate. The optimizer family changes the program (its state differs), so there is
one compiled program per family; SGD with and without momentum share one.
"""

from __future__ import annotations

import jaxlab as jl
from jaxlab.course import framework as ex
from jaxlab.course import problems

AT = 20
# (optimizer, momentum, learning rate): Keras' defaults; plain SGD uses the course's 0.01.
ARMS = [("sgd", 0.0, 0.01), ("sgd", 0.9, 0.01), ("rmsprop", 0.0, 0.001),
        ("adagrad", 0.0, 0.01), ("adam", 0.0, 0.001)]


def label(optimizer: str, momentum: float) -> str:
    return "momentum" if optimizer == "sgd" and momentum > 0 else optimizer


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=AT if quick else 200),
        zip={"optimizer": [a[0] for a in ARMS], "momentum": [a[1] for a in ARMS],
             "learning_rate": [a[2] for a in ARMS]},
        grid={"seed": problems.seeds(quick)},
        name="optimizers")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    h = result.history
    last = h[h.epoch <= AT].sort_values("epoch").groupby("variant").tail(1).set_index("variant")
    v = result.variants.assign(
        arm=[label(o, m) for o, m in zip(result.variants["train.optimizer"],
                                         result.variants["train.momentum"], strict=True)],
        loss_at=last.loss)
    at = v.groupby("arm").loss_at.mean()
    final = v.groupby("arm").final_loss.mean()
    acc = v.groupby("arm").final_val_accuracy.mean()
    arm_of = v.set_index("variant").arm
    h = h.assign(arm=h.variant.map(arm_of))
    curves = {what: h.pivot_table(index="epoch", columns="arm", values=col, aggfunc="mean")
              for what, col in (("training loss (log)", "loss"),
                                ("test accuracy", "val_accuracy"))}
    fig = ex.panels(curves, ncols=2, sharey=False, panel_size=(5.0, 3.6),
                    title="optimizers with Keras' default learning rates (mean over seeds)")
    fig.axes[0].set_yscale("log")
    figures = (ctx.figure(fig, "curves_by_optimizer.png"),)
    others = [a for a in at.index if a != "sgd"]
    numbers = {f"loss_at_epoch_{AT}_{a}": ex.number(at[a]) for a in at.index}
    numbers |= {f"final_loss_{a}": ex.number(final[a]) for a in final.index}
    numbers |= {f"test_accuracy_{a}": ex.number(acc[a]) for a in acc.index}
    holds = all(at[a] < at["sgd"] for a in others)
    return ex.Findings(
        claim="Momentum and the adaptive optimizers (RMSprop, Adagrad, Adam) train faster "
              "than plain SGD with the default settings.",
        holds=holds,
        summary=f"training loss at epoch {AT}: plain SGD {at['sgd']:.3f}; "
                + ", ".join(f"{a} {at[a]:.3f}" for a in others)
                + f"; final test accuracy {acc.min():.2f}..{acc.max():.2f}",
        numbers=numbers,
        tables={"By optimizer (mean over seeds)": (
            at.rename(f"loss, epoch {AT}").to_frame().join(final.rename("final loss"))
            .join(acc.rename("test accuracy")).reset_index())},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="optimizers",
    title="SGD, momentum, RMSprop, Adagrad, Adam on one problem",
    course="Better Deep Learning, ch. 'Understand the impact of learning rate' and 'Adam'; "
           "lesson key lessons (Adam)",
    run=run)
