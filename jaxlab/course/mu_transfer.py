"""mu-transfer: under muP the best learning rate does not move with width; under SP it does.

Tensor Programs V (Yang et al. 2022), Figure 1, for the 3-hidden-layer MLP of the haiku-mup
README: train MLPs of several widths at a log2 grid of Adam learning rates, with 5 seeds,
once in the standard parametrization (SP) and once in the Maximal Update Parametrization
(``model.parametrization = "mup"``, base width 32). Width, learning rate and seed are one
program per parametrization (widths padded and masked, learning rates and muP's
per-variant multipliers in the optimizer state). The optimum is, per seed and width, the
learning rate of lowest final training loss; its trend with width is a per-seed rank
correlation with a t interval over seeds (:mod:`jaxlab.course.stats`).

The coordinate check trains every width for a few full-batch Adam steps at one learning rate
and measures, on the training batch, the RMS change of each layer's pre-activations from
their initial values: flat in width under muP, growing with width under SP.

Digits (scikit-learn's 8x8, offline) by default; ``--set data.name=mnist --data-dir DIR``
(or ``fashion_mnist``) runs the same study on the offline MNIST files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

BASE = 32  # muP's base width: the two parametrizations coincide there
PARAMETRIZATIONS = ("standard", "mup")
COORD_STEPS = 3  # full-batch updates before the coordinate check measures


def widths(quick: bool) -> list[int]:
    return [32, 64, 128] if quick else [32, 64, 128, 256]


def log2_lrs(quick: bool) -> list[float]:
    return [float(k) for k in (range(-10, -2) if quick else range(-12, -1))]


def _data(quick: bool) -> jl.DataConfig:
    return jl.DataConfig("digits", limit_train=512 if quick else 1024, validation_split=0.2)


def _model(parametrization: str) -> jl.ModelConfig:
    return jl.ModelConfig(depth=3, kernel_init="he_normal", output_init="lecun_normal",
                          parametrization=parametrization, mup_base_width=BASE)


def spec(quick: bool, parametrization: str) -> jl.Sweep:
    """Width x learning rate x seed, Adam, one parametrization: one program."""
    return jl.Sweep(
        data=_data(quick), model=_model(parametrization),
        train=jl.TrainConfig(optimizer="adam", batch_size=128, epochs=8),
        grid={"width": widths(quick), "learning_rate": [2.0 ** k for k in log2_lrs(quick)],
              "seed": problems.seeds(quick, default=5, small=5)},
        name=f"lr-by-width-{parametrization}")


def coord_widths(quick: bool) -> list[int]:
    return [32, 64, 128, 256] if quick else [32, 64, 128, 256, 512, 1024]


def coord_spec(quick: bool, parametrization: str) -> jl.Sweep:
    """The coordinate check: every width, a few full-batch Adam steps at lr 2**-8."""
    return jl.Sweep(
        data=jl.DataConfig("digits", limit_train=256, validation_split=0.2),
        model=_model(parametrization),
        train=jl.TrainConfig(optimizer="adam", learning_rate=2.0 ** -8, batch_size=256,
                             epochs=COORD_STEPS, shuffle=False),
        grid={"width": coord_widths(quick), "seed": problems.seeds(quick, default=5, small=5)},
        name=f"coordinate-check-{parametrization}")


# -- measurements --------------------------------------------------------------------------------
def optima(result: jl.Result) -> pd.DataFrame:
    """Per width (rows) and seed (columns): the log2 learning rate of lowest final training
    loss, refined by the vertex of a parabola through log(loss) at the best grid point and
    its two neighbours (kept within them); a diverged variant counts as worst."""
    v = result.variants.assign(log2_lr=np.log2(result.variants["train.learning_rate"]),
                               loss=result.variants.final_loss.fillna(np.inf))
    rows = []
    for (w, seed), g in v.groupby(["model.width", "train.seed"]):
        g = g.sort_values("log2_lr")
        x, y = g.log2_lr.to_numpy(), np.log(g.loss.to_numpy())
        i = int(np.argmin(y))
        best = x[i]
        if 0 < i < len(x) - 1 and np.all(np.isfinite(y[i - 1: i + 2])):
            a, b, _ = np.polyfit(x[i - 1: i + 2], y[i - 1: i + 2], 2)
            if a > 0:
                best = float(np.clip(-b / (2 * a), x[i - 1], x[i + 1]))
        rows.append({"width": w, "seed": seed, "log2_lr": best})
    return pd.DataFrame(rows).pivot_table(index="width", columns="seed", values="log2_lr")


def preactivations(params: dict, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's pre-activations ``(b, n_l)`` of a ReLU MLP (sliced pure-dict params)."""
    out, h = [], x
    for l in range(len(params["hidden"])):
        z = h @ np.asarray(params["hidden"][l]["kernel"]) + np.asarray(params["hidden"][l]["bias"])
        out.append(z)
        h = np.maximum(z, 0.0)
    out.append(h @ np.asarray(params["out"]["kernel"]) + np.asarray(params["out"]["bias"]))
    return out


def coordinate_check(plan, result: jl.Result) -> pd.DataFrame:
    """Per variant: ``width``, ``seed`` and, per layer, the RMS change of its pre-activations
    on the training batch from the initial parameters to the trained ones."""
    import jax  # on use: listing the studies does not load JAX

    from jaxlab import models

    (g,) = plan.groups
    init = plan.initial_params()[0]
    x = np.asarray(g.dataset.x_train, np.float64)
    rows = []
    for j, v in enumerate(g.variants):
        p0 = models.slice_params(jax.tree.map(lambda a, j=j: np.asarray(a[j]), init),
                                 v.model.widths, len(v.model.widths), g.dataset.n_features)
        z0, z1 = preactivations(p0, x), preactivations(result.params(v.index), x)
        row = {"width": v.model.widths[0], "seed": v.train.seed}
        for l, (a, b) in enumerate(zip(z0, z1, strict=True)):
            name = "output" if l == len(z0) - 1 else f"hidden {l + 1}"
            row[name] = float(np.sqrt(np.mean((b - a) ** 2)))
        rows.append(row)
    return pd.DataFrame(rows)


def slopes(coords: pd.DataFrame) -> dict[str, stats.Estimate]:
    """Per layer: the log-log slope of the change against width (one fit per seed)."""
    layers = [c for c in coords.columns if c not in ("width", "seed")]
    out = {}
    for layer in layers:
        per = [np.polyfit(np.log2(s.width), np.log2(s[layer]), 1)[0]
               for _, s in coords.groupby("seed")]
        out[layer] = stats.mean_ci(per)
    return out


# -- figures -------------------------------------------------------------------------------------
def _loss_figure(results: dict[str, jl.Result]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    axs = fig.subplots(1, 2, sharey=True)
    for ax, (par, result) in zip(axs, results.items(), strict=True):
        v = result.variants.assign(log2_lr=np.log2(result.variants["train.learning_rate"]))
        for w, rows in v.groupby("model.width"):
            table = rows.pivot_table(index="log2_lr", columns="train.seed", values="final_loss")
            est = [stats.mean_ci(table.loc[k].to_numpy()) for k in table.index]
            mean = np.array([e.mean for e in est])
            lo, hi = np.array([e.low for e in est]), np.array([e.high for e in est])
            (line,) = ax.plot(table.index, mean, "-o", ms=3, label=f"width {w}")
            ax.fill_between(table.index, lo, hi, color=line.get_color(), alpha=0.2)
        ax.set_yscale("log")
        ax.set_title("standard parametrization" if par == "standard" else "muP", fontsize="medium")
        ax.set_xlabel("log2 learning rate (Adam)")
    axs[0].set_ylabel("final training loss (mean, 95% CI over seeds)")
    axs[1].legend(fontsize="x-small")
    return fig


def _coord_figure(coords: dict[str, pd.DataFrame]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    axs = fig.subplots(1, 2, sharey=True)
    for ax, (par, frame) in zip(axs, coords.items(), strict=True):
        layers = [c for c in frame.columns if c not in ("width", "seed")]
        for layer in layers:
            table = frame.pivot_table(index="width", columns="seed", values=layer)
            est = [stats.mean_ci(table.loc[w].to_numpy()) for w in table.index]
            (line,) = ax.plot(table.index, [e.mean for e in est], "-o", ms=3, label=layer)
            ax.fill_between(table.index, [e.low for e in est], [e.high for e in est],
                            color=line.get_color(), alpha=0.2)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width")
        ax.set_title(("standard parametrization" if par == "standard" else "muP")
                     + f": after {COORD_STEPS} Adam steps", fontsize="medium")
    axs[0].set_ylabel("RMS change of pre-activations")
    axs[1].legend(fontsize="x-small")
    return fig


# -- the study -----------------------------------------------------------------------------------
def run(ctx: ex.Context) -> ex.Findings:
    results = {p: ctx.sweep(spec(ctx.quick, p)) for p in PARAMETRIZATIONS}
    coords = {}
    for p in PARAMETRIZATIONS:
        s = ctx.configure(coord_spec(ctx.quick, p))
        coords[p] = coordinate_check(jl.plan(s), ctx.run(s))
    opt = {p: optima(r) for p, r in results.items()}
    ws = list(opt["standard"].index)
    small, large = ws[0], ws[-1]
    # Per seed: the rank correlation of width and optimum (an optimum that never moves has
    # no rank order: no trend, 0) and the optimum's shift from the narrowest to the widest.
    trend = {p: stats.mean_ci([np.nan_to_num(stats.spearman(ws, o[c].to_numpy()))
                               for c in o.columns]) for p, o in opt.items()}
    moved = {p: o.loc[large] - o.loc[small] for p, o in opt.items()}
    shift = {p: stats.mean_ci(m.to_numpy()) for p, m in moved.items()}
    gap = stats.diff_ci(moved["mup"], moved["standard"])  # paired by seed
    per_width = {p: {w: stats.mean_ci(o.loc[w].to_numpy()) for w in ws} for p, o in opt.items()}
    slope = {p: slopes(c) for p, c in coords.items()}
    # SP: the optimum falls with width beyond the seed noise (rank trend and shift). muP: its
    # optimum moves by less than one log2 step (a factor 2 in the learning rate) over the
    # whole range of widths, and the interval of its shift excludes the shift SP shows.
    sp_moves = trend["standard"].below(0) and shift["standard"].below(0)
    mup_stays = (abs(shift["mup"].mean) <= 1.0
                 and shift["mup"].excludes(shift["standard"].mean))
    holds = sp_moves and mup_stays

    numbers: dict[str, float] = {}
    for p in PARAMETRIZATIONS:
        numbers |= trend[p].numbers(f"{p}_optimum_rank_trend")
        numbers |= shift[p].numbers(f"{p}_optimum_shift_log2_{small}_to_{large}")
        numbers |= gap.numbers("mup_minus_standard_shift_log2") if p == "mup" else {}
        for w in ws:
            numbers |= per_width[p][w].numbers(f"{p}_optimal_log2_lr_width_{w}")
        for layer, e in slope[p].items():
            numbers |= e.numbers(f"{p}_coord_slope_{layer.replace(' ', '_')}")
    table = pd.DataFrame({"width": ws} | {
        f"{p} optimal log2 lr": [str(per_width[p][w]) for w in ws] for p in PARAMETRIZATIONS})
    slope_table = pd.DataFrame({"layer": list(slope["standard"])} | {
        f"{p} slope": [str(e) for e in slope[p].values()] for p in PARAMETRIZATIONS})
    figures = (
        ctx.figure(_loss_figure(results), "loss_by_learning_rate_and_width.png"),
        ctx.figure(_coord_figure(coords), "coordinate_check.png"),
    )
    return ex.Findings(
        claim="Under the standard parametrization the best Adam learning rate shifts to "
              "smaller values as the MLP gets wider; under muP it stays put (Tensor "
              "Programs V, Figure 1).",
        holds=holds,
        summary=f"optimal log2 lr from width {small} to {large}: shift "
                f"{shift['standard']:.2f} under SP (rank trend {trend['standard']:.2f}, "
                f"{stats.verdict(sp_moves)}), {shift['mup']:.2f} under muP (rank trend "
                f"{trend['mup']:.2f}; within one log2 step and apart from SP's shift: "
                f"{stats.verdict(mup_stays)}); coordinate check, hidden-layer slope of the "
                f"update with log2 width {slope['standard']['hidden 2']:.2f} (SP) vs "
                f"{slope['mup']['hidden 2']:.2f} (muP); muP's shift minus SP's {gap:.2f}; "
                f"95% CIs over "
                f"{opt['standard'].shape[1]} seeds",
        numbers=numbers,
        tables={"Optimal log2 learning rate by width (mean, 95% CI over seeds)": table,
                "Coordinate check: log-log slope of the pre-activation change against width":
                    slope_table},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="mu-transfer",
    title="width x Adam learning rate x seed, SP vs muP: the best learning rate moves with "
          "width under SP and stays put under muP; the coordinate check",
    course="Beyond the course: Yang et al. 2022, 'Tensor Programs V', Figure 1 (haiku-mup's "
           "3-hidden-layer MLP)",
    run=run)
