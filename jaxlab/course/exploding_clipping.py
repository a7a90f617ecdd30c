"""exploding-clipping: unscaled large targets blow SGD up; clipping the gradient fixes it.

Better Deep Learning, "Fix exploding gradients with gradient clipping": ``make_regression``
targets (hundreds in size, unscaled), one hidden layer of 25 ReLU nodes, SGD(0.01, momentum
0.9), MSE, 100 epochs, batch 32, the output layer at Keras' default (glorot_uniform); no
clipping, ``clipnorm=1.0`` (a global norm in the Keras of the book: ``train.clip_norm``) and
``clipvalue=5.0`` (``train.clip_value``), the book's thresholds. Beyond the course: Keras 3's
``clipnorm``, which clips every tensor on its own (``train.clip_tensor_norm=1.0``). Five
seeds. Clip thresholds are data (``inf`` = off), so the arms and the seeds are one program.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

#: arm -> (clip_norm, clip_tensor_norm, clip_value); None is off.
ARMS = {"none": (None, None, None), "norm 1": (1.0, None, None),
        "value 5": (None, None, 5.0), "tensor norm 1": (None, 1.0, None)}
CLIPS = ("clip_norm", "clip_tensor_norm", "clip_value")


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.regression(),
        # The course: he_uniform hidden layer, the output Dense at Keras' glorot_uniform.
        model=jl.ModelConfig(width=25, kernel_init="he_uniform", output_init="glorot_uniform"),
        train=problems.sgd(loss="mse", epochs=20 if quick else 100),
        zip={c: [a[i] for a in ARMS.values()] for i, c in enumerate(CLIPS)},
        grid={"seed": problems.seeds(quick, small=5)},
        name="exploding-clipping")


def arm(*clips: float | None) -> str:
    """The :data:`ARMS` name of a variant's ``(clip_norm, clip_tensor_norm, clip_value)``
    (``None``, ``"none"`` or NaN: off)."""
    def on(x):
        return isinstance(x, (int, float)) and np.isfinite(x)

    key = tuple(float(x) if on(x) else None for x in clips)
    return next((name for name, a in ARMS.items() if a == key), str(key))


def run(ctx: ex.Context) -> ex.Findings:
    s = ctx.configure(spec(ctx.quick))
    result = ctx.run(s)
    data = jl.load(s.data)
    variance = float(np.var(data.y_val))
    v = result.variants
    v = v.assign(arm=[arm(*c) for c in zip(*(v[f"train.{c}"] for c in CLIPS), strict=True)],
                 diverged=(v.status == "diverged").astype(float))
    by_seed = {a: rows.set_index("train.seed") for a, rows in v.groupby("arm", sort=False)}
    diverged = {a: stats.mean_ci(r.diverged) for a, r in by_seed.items()}
    mse = {a: stats.mean_ci(r.final_val_loss.where(r.diverged == 0)) for a, r in by_seed.items()}
    stop = {a: int(r.stop_epoch.max()) for a, r in by_seed.items()}
    bound = 0.05 * variance  # explains 95% of the variance
    clipped = [a for a in by_seed if a != "none"]
    figures = (
        ctx.figure(plotting.curves(result, "loss", aggregate="seed", logy=True,
                                   title="training MSE (log; mean, band over seeds); "
                                         "x = diverged"), "loss_clipping.png"),
        ctx.figure(plotting.curves(result, "grad_norm", aggregate="seed", logy=True,
                                   title="gradient norm before clipping"),
                   "gradient_norm_clipping.png"),
    )
    numbers = {"target_variance": variance, "bound": bound,
               "seeds": float(len(by_seed.get("none", [])))}
    for a in by_seed:
        k = a.replace(" ", "_")
        numbers |= diverged[a].numbers(f"diverged_{k}")
        if mse[a].n:  # no test MSE where every seed diverged
            numbers |= mse[a].numbers(f"val_mse_{k}")
    # Every unclipped seed diverges; every clipped seed trains, its test MSE's interval below
    # the bound.
    holds = ("none" in by_seed and diverged["none"].mean == 1.0
             and all(diverged[a].mean == 0 and mse[a].below(bound) for a in clipped))
    nan = stats.Estimate(np.nan, np.nan, np.nan, 0)
    return ex.Findings(
        claim="With large, unscaled regression targets the gradients explode and the "
              "weights overflow (NaN); clipping the gradient by norm (1.0) or by value (5.0) "
              "keeps training stable.",
        holds=holds,
        summary=f"without clipping {diverged.get('none', nan).mean:.0%} "
                f"of {len(by_seed.get('none', []))} seeds diverged (by epoch "
                f"{stop.get('none', -1)}); test MSE (mean [95% CI]) clipped by global norm 1.0 "
                f"{mse.get('norm 1', nan):.1f}, by value 5.0 {mse.get('value 5', nan):.1f}; "
                f"beyond the course, Keras 3's per-tensor norm 1.0 "
                f"{mse.get('tensor norm 1', nan):.1f} (targets' variance {variance:.0f}, "
                f"bound {bound:.0f})",
        numbers=numbers,
        tables={"By clipping (mean and 95% CI over seeds)": pd.DataFrame(
            {"diverged": [diverged[a].mean for a in by_seed],
             **{f"test MSE {k}": [getattr(mse[a], k) for a in by_seed]
                for k in ("mean", "low", "high")}}, index=list(by_seed))
            .rename_axis("clipping").reset_index()},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="exploding-clipping",
    title="regression with large targets; unclipped diverges, clip by norm and by value "
          "train",
    course="Better Deep Learning, ch. 'Fix exploding gradients with gradient clipping'",
    run=run)
