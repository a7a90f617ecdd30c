"""edge-of-stability: full-batch gradient descent drives the sharpness up to 2/lr, then it
hovers there while the loss keeps falling, not monotonically.

Cohen et al. (ICLR 2021), "Gradient Descent on Neural Networks Typically Occurs at the Edge
of Stability", Figure 1: a tanh MLP trained by full-batch gradient descent on a
squared-error loss. Here: scikit-learn's digits (the first 1000 samples, standardized,
one-hot targets), two hidden layers of 64 tanh units with a small initialization (so the
sharpness starts low), plain gradient descent at several learning rates and 5 seeds in one
program; the sharpness (the top eigenvalue of the training loss's Hessian, 20 Lanczos steps
on the whole training set, :mod:`jaxlab.curvature`) every few steps. Full batch: one step
per epoch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

LRS = [3.0, 4.0, 5.0]
N_TRAIN = 1000
# "About 2/lr": the late sharpness over 2/lr lies in this band. The paper's sharpness
# hovers "just above" 2/lr; here 1.1-1.25 times it, while its rise before would have
# carried it on (the first runs overshoot to 1.6 times 2/lr before settling).
BAND = (0.8, 1.4)


def dataset():
    """Digits as a regression on one-hot targets (the paper's squared loss)."""
    from jaxlab import data

    ds = data.load(jl.DataConfig("digits", train_size=N_TRAIN))
    onehot = np.eye(10, dtype=np.float32)[ds.y_train]
    return data.from_arrays(ds.x_train, onehot, task="regression", scale_x="standardize",
                            name="digits-onehot")


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=jl.DataConfig("arrays"),
        model=jl.ModelConfig(width=64, depth=2, activation="tanh", init_scale=0.1),
        train=jl.TrainConfig(optimizer="sgd", batch_size=N_TRAIN, shuffle=False, loss="mse",
                             epochs=150 if quick else 300, sharpness_every=10 if quick else 3,
                             sharpness_iters=20),
        grid={"learning_rate": LRS[1:] if quick else LRS,
              "seed": problems.seeds(quick, small=3)},
        name="edge-of-stability")


def _phases(result: jl.Result) -> pd.DataFrame:
    """Per variant: sharpness / (2/lr) first measured and averaged over the last third, and
    the fraction of late steps where the loss rose."""
    h = result.history
    epochs = int(h.epoch.max())
    rows = []
    for v, g in h.groupby("variant"):
        lr = float(g["train.learning_rate"].iloc[0])
        s = g.dropna(subset=["sharpness"])
        late = g[g.epoch > 2 * epochs // 3]
        rows.append({"variant": v, "lr": lr, "seed": int(g["train.seed"].iloc[0]),
                     "early": s.sharpness.iloc[0] * lr / 2,
                     "late": late.sharpness.mean() * lr / 2,
                     "rises": float(np.mean(np.diff(late.loss.to_numpy()) > 0))})
    return pd.DataFrame(rows)


def _figure(result: jl.Result):
    from matplotlib.figure import Figure

    h = result.history
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    ax_s, ax_l = fig.subplots(1, 2)
    for i, (lr, g) in enumerate(h.groupby("train.learning_rate")):
        color = f"C{i}"
        s = g.dropna(subset=["sharpness"]).pivot_table(index="epoch", columns="train.seed",
                                                       values="sharpness")
        ax_s.plot(s.index, s.mean(axis=1), color=color, label=f"lr={lr:g}")
        ax_s.fill_between(s.index, s.min(axis=1), s.max(axis=1), color=color, alpha=0.25, lw=0)
        ax_s.axhline(2 / lr, color=color, ls="--", lw=1)
        loss = g.pivot_table(index="epoch", columns="train.seed", values="loss")
        ax_l.plot(loss.index, loss.mean(axis=1), color=color, label=f"lr={lr:g}")
        ax_l.fill_between(loss.index, loss.min(axis=1), loss.max(axis=1), color=color,
                          alpha=0.25, lw=0)
    ax_s.set(xlabel="step (full batch: = epoch)", ylabel="sharpness (top Hessian eigenvalue)",
             title="sharpness; dashed: 2/lr (band: seeds' range)")
    ax_l.set(xlabel="step", ylabel="training loss (mse)", yscale="log",
             title="the loss keeps falling, not monotonically")
    ax_s.legend(fontsize="small")
    return fig


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.run(ctx.configure(spec(ctx.quick)), dataset=dataset())
    phases = _phases(result)
    numbers, rows, holds = {}, [], True
    for lr, g in phases.groupby("lr"):
        late, early = stats.mean_ci(g.late), stats.mean_ci(g.early)
        rises = stats.mean_ci(g.rises)
        numbers |= late.numbers(f"late_ratio_at_lr_{lr:g}")
        numbers |= early.numbers(f"early_ratio_at_lr_{lr:g}")
        numbers |= rises.numbers(f"loss_rises_at_lr_{lr:g}")
        ok = (late.low > BAND[0] and late.high < BAND[1] and early.below(1.0)
              and rises.above(0.0))
        holds &= ok
        rows.append({"lr": lr, "2/lr": 2 / lr, "first sharpness / (2/lr)": str(early),
                     "late sharpness / (2/lr)": str(late),
                     "late steps where the loss rose": str(rises), "shown": ok})
    table = pd.DataFrame(rows)
    parts = "; ".join(f"lr {r['lr']:g}: {r['first sharpness / (2/lr)']} -> "
                      f"{r['late sharpness / (2/lr)']}" for r in rows)
    n_seeds = int(phases.seed.nunique())
    return ex.Findings(
        claim="Under full-batch gradient descent the sharpness rises until it reaches about "
              "2/lr, then hovers there while the loss keeps falling, not monotonically.",
        holds=holds,
        summary=f"sharpness / (2/lr), first measured -> mean over "
                f"the last third of training (95% CI over {n_seeds} seeds): {parts}",
        numbers=numbers,
        tables={"Sharpness against 2/lr by learning rate": table},
        figures=(ctx.figure(_figure(result), "sharpness.png"),))


EXPERIMENT = ex.Experiment(
    name="edge-of-stability",
    title="digits, tanh MLP, full-batch GD: the sharpness rises to 2/lr and hovers there",
    course="beyond the course: Cohen et al. 2021, 'Gradient Descent on Neural Networks "
           "Typically Occurs at the Edge of Stability', Fig. 1",
    run=run)
