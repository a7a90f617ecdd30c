"""exploding-clipping: unscaled large targets blow SGD up; clipping the gradient fixes it.

Better Deep Learning, "Fix exploding gradients with gradient clipping": ``make_regression``
targets (hundreds in size, unscaled), one hidden layer of 25 ReLU nodes, SGD(0.01, momentum
0.9), MSE, 100 epochs, batch 32, the output layer at Keras' default (glorot_uniform); no
clipping, ``clipnorm=1.0`` (a global norm in the Keras of the book) and ``clipvalue=5.0``, the
book's thresholds. Clip thresholds are data (``inf`` = off), so the three arms and the seeds
are one program.
"""

from __future__ import annotations

import numpy as np

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

ARMS = {"none": (None, None), "norm 1": (1.0, None), "value 5": (None, 5.0)}


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.regression(),
        model=jl.ModelConfig(width=25, kernel_init="he_uniform"),
        train=problems.sgd(loss="mse", epochs=20 if quick else 100),
        zip={"clip_norm": [a[0] for a in ARMS.values()],
             "clip_value": [a[1] for a in ARMS.values()]},
        grid={"seed": problems.seeds(quick)},
        name="exploding-clipping")


def arm(norm: float | None, value: float | None) -> str:
    """``none``, ``norm 1``, ``value 5``: how a variant clips (``None``, ``"none"`` or NaN:
    off)."""
    def on(x):
        return isinstance(x, (int, float)) and np.isfinite(x)

    parts = [f"norm {norm:g}" if on(norm) else "", f"value {value:g}" if on(value) else ""]
    return ", ".join(p for p in parts if p) or "none"


def run(ctx: ex.Context) -> ex.Findings:
    s = ctx.configure(spec(ctx.quick))
    result = ctx.run(s)
    data = jl.load(s.data)
    variance = float(np.var(data.y_val))
    v = result.variants.assign(arm=[arm(n, c) for n, c in zip(
        result.variants["train.clip_norm"], result.variants["train.clip_value"], strict=True)])
    v = v.assign(diverged=v.status == "diverged")
    g = v.groupby("arm", sort=False)
    diverged = g.diverged.mean()
    val = g.final_val_loss.median()
    stop = g.stop_epoch.max()
    bound = 0.05 * variance  # explains 95% of the variance
    clipped = [a for a in diverged.index if a != "none"]
    figures = (
        ctx.figure(plotting.curves(result, "loss", aggregate="seed", logy=True,
                                   title="training MSE (log); x = diverged"),
                   "loss_clipping.png"),
        ctx.figure(plotting.curves(result, "grad_norm", aggregate="seed", logy=True,
                                   title="gradient norm before clipping"),
                   "gradient_norm_clipping.png"),
    )
    numbers = {"target_variance": variance, "bound": bound}
    numbers |= {f"diverged_{a.replace(' ', '_')}": ex.number(diverged[a]) for a in diverged.index}
    numbers |= {f"val_mse_{a.replace(' ', '_')}": ex.number(val[a]) for a in val.index
                if not np.isnan(val[a])}  # a diverged run has no final MSE (NaN)
    holds = (diverged.get("none", 0) == 1.0
             and all(diverged[a] == 0 and np.isfinite(val[a]) and val[a] < bound
                     for a in clipped))
    return ex.Findings(
        claim="With large, unscaled regression targets the gradients explode and the "
              "weights overflow (NaN); clipping the gradient by norm or by value keeps "
              "training stable.",
        holds=holds,
        summary=f"without clipping {100 * diverged.get('none', np.nan):.0f}% of the runs "
                f"diverged (by epoch {stop.get('none', -1)}); clipped by norm 1.0 the test "
                f"MSE is {val.get('norm 1', np.nan):.1f}, by value 5.0 "
                f"{val.get('value 5', np.nan):.1f} (targets' variance {variance:.0f})",
        numbers=numbers,
        tables={"By clipping (median over seeds)": (
            diverged.rename("diverged").to_frame().join(val.rename("test MSE"))
            .reset_index())},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="exploding-clipping",
    title="regression with large targets; unclipped diverges, clip by norm and by value "
          "train",
    course="Better Deep Learning, ch. 'Fix exploding gradients with gradient clipping'",
    run=run)
