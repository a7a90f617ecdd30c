"""critical-batch-size: steps to a target loss fall in proportion to the batch size up to a
critical batch size, then level off; the gradient noise scale predicts where.

Shallue et al. (JMLR 2019), "Measuring the Effects of Data Parallelism on Neural Network
Training": with the learning rate tuned for every batch size, the steps to reach a target
fall as ``1/B`` (perfect scaling), then ever less (diminishing returns), then not at all.
McCandlish et al. (2018), "An Empirical Model of Large-Batch Training": the steps follow
``S(B) = S_min (1 + B_crit / B)``, and the simple noise scale ``B_simple = tr(Sigma)/|G|^2``
(measured during training, :mod:`jaxlab.noise_scale`) estimates ``B_crit``.

Here: scikit-learn's digits (the first 1000 samples, standardized), one hidden layer of 64
ReLU units, SGD with momentum 0.9, batch size x learning rate x seed in one program
(microbatches of the smallest batch: every larger batch accumulates, and measures the noise
scale on the way). The loss is the whole training set's, evaluated after every epoch; the
steps to the target are interpolated (in log loss) between epochs. Every batch size takes
its learning rate with the fewest mean steps; ``B_crit`` comes from a least-squares fit of
``S`` against ``1/B`` per seed. The claim holds when the speed-up of the first step up in
batch size exceeds the last one's (paired by seed), ``B_crit``'s interval lies inside the
batch sizes tried (above 4 times the smallest: perfect scaling there), and ``B_crit /
B_simple`` is within a factor :data:`AGREE`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

BATCHES = [16, 32, 64, 128, 256, 512, 1000]
LRS = [2.0 ** k / 64 for k in range(8)]  # 1/64 .. 2
N_TRAIN = 1000
TARGET = 0.02
# B_simple "predicts" B_crit: their ratio's interval lies within [1/10, 10], McCandlish et
# al.'s "order of magnitude" (B_simple ignores the Hessian's shape, which B_crit feels).
AGREE = 10.0


def dataset():
    """Digits; the validation part is the training set itself (the full training loss)."""
    from jaxlab import data

    ds = data.load(jl.DataConfig("digits", train_size=N_TRAIN))
    return data.from_arrays(ds.x_train, ds.y_train, ds.x_train, ds.y_train,
                            task="classification", scale_x="standardize", name="digits")


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=jl.DataConfig("arrays"),
        model=jl.ModelConfig(width=64, depth=1, activation="relu"),
        train=jl.TrainConfig(optimizer="sgd", momentum=0.9, epochs=50 if quick else 150,
                             noise_scale=True),
        grid={"batch_size": BATCHES[::2] if quick else BATCHES,
              "learning_rate": LRS[2:] if quick else LRS,
              "seed": problems.seeds(quick, small=4)},
        name="critical-batch-size")


def steps_to(g: pd.DataFrame, target: float, start: float) -> float:
    """Updates until ``val_loss`` first reaches ``target`` (one variant's history),
    interpolated in log loss between epochs (from ``start`` at 0 updates); inf if never."""
    g = g.sort_values("epoch")
    loss = np.concatenate([[start], g.val_loss.to_numpy(np.float64)])
    upd = np.concatenate([[0.0], g.updates.to_numpy(np.float64)])
    hit = np.flatnonzero(loss <= target)
    if not len(hit):
        return math.inf
    i = hit[0]
    f = (math.log(loss[i - 1]) - math.log(target)) / (math.log(loss[i - 1]) - math.log(loss[i]))
    return float(upd[i - 1] + f * (upd[i] - upd[i - 1]))


def measure(result: jl.Result, target: float = TARGET) -> pd.DataFrame:
    """Per variant: the steps to ``target``, and both noise estimators summed over its
    epochs with the number of epochs (NaN and 0 where it diverged or does not accumulate)."""
    h = result.history
    start = math.log(10)  # the loss of a uniform prediction over 10 classes
    status = result.variants.status
    rows = []
    for v, g in h.groupby("variant"):
        s = steps_to(g, target, start)
        ok = status[v] == "ok"
        rows.append({"variant": v, "batch": int(g["train.batch_size"].iloc[0]),
                     "lr": float(g["train.learning_rate"].iloc[0]),
                     "seed": int(g["train.seed"].iloc[0]), "steps": s,
                     "trace": g.gns_trace.sum() if ok else math.nan,
                     "g2": g.gns_g2.sum() if ok else math.nan,
                     "epochs": int(g.gns_trace.notna().sum()) if ok else 0})
    return pd.DataFrame(rows)


def tune(per: pd.DataFrame) -> pd.DataFrame:
    """Per batch size, the rows of its learning rate with the fewest mean steps over seeds."""
    mean = per.groupby(["batch", "lr"]).steps.mean()
    best = mean.groupby(level="batch").idxmin().map(lambda k: k[1])
    return per[per.lr == per.batch.map(best)]


def fit(per: pd.DataFrame, tuned: pd.DataFrame) -> pd.DataFrame:
    """Per seed: ``S_min`` and ``B_crit`` of ``S = S_min (1 + B_crit / B)`` (least squares in
    relative error over the tuned batch sizes), and ``B_simple`` measured where McCandlish
    et al. advise, with the big batch as large as possible: both estimators averaged over
    every epoch of every variant of the largest batch size that trained without diverging,
    then their ratio."""
    rows = []
    largest = per.batch.max()
    for seed, g in tuned.groupby("seed"):
        g = g[np.isfinite(g.steps)]
        steps = g.steps.to_numpy()
        c, a = np.polyfit(1.0 / g.batch.to_numpy(), steps, 1, w=1 / steps)
        p = per[(per.seed == seed) & (per.batch == largest) & (per.epochs > 0)]
        rows.append({"seed": seed, "s_min": a, "b_crit": c / a,
                     "b_simple": p.trace.sum() / p.g2.sum()})
    return pd.DataFrame(rows).set_index("seed")


def _figure(tuned: pd.DataFrame, fits: pd.DataFrame, b_simple):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    table = tuned.pivot_table(index="batch", columns="seed", values="steps")
    est = [stats.mean_ci(table.loc[b]) for b in table.index]
    b = table.index.to_numpy(np.float64)
    ax.plot(b, [e.mean for e in est], "o-", label="steps to target (tuned lr)")
    ax.fill_between(b, [e.low for e in est], [e.high for e in est], alpha=0.25, lw=0)
    grid = np.geomspace(b[0], b[-1], 50)
    s_min, b_crit = fits.s_min.mean(), fits.b_crit.mean()
    ax.plot(grid, s_min * (1 + b_crit / grid), "k:", label="S_min (1 + B_crit / B) fit")
    ax.plot(grid, s_min * b_crit / grid, color="0.6", lw=1, label="perfect scaling")
    ax.axvline(b_crit, color="k", ls=":", lw=1)
    ax.axvspan(b_simple.low, b_simple.high, color="C3", alpha=0.15)
    ax.axvline(b_simple.mean, color="C3", label="measured B_simple (95% CI)")
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel=f"steps to loss {TARGET}",
           title="steps to the target against batch size (band: 95% CI over seeds)")
    ax.legend(fontsize="small")
    return fig


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.run(ctx.configure(spec(ctx.quick)), dataset=dataset())
    per = measure(result)
    tuned = tune(per)
    fits = fit(per, tuned)
    table = tuned.pivot_table(index="batch", columns="seed", values="steps")
    lr = tuned.groupby("batch").lr.first()
    batches = list(table.index)
    # Speed-up of each doubling (quadrupling in --quick) of the batch: 2 (4) is perfect.
    gains = {(a, b): stats.mean_ci(table.loc[a] / table.loc[b])
             for a, b in zip(batches[:-1], batches[1:], strict=True)}
    b_crit, b_simple = stats.mean_ci(fits.b_crit), stats.mean_ci(fits.b_simple)
    ratio = stats.mean_ci(np.log(fits.b_crit / fits.b_simple))
    first, last = gains[batches[0], batches[1]], gains[batches[-2], batches[-1]]
    # Returns diminish: the first step up in batch size buys more than the last (paired).
    falls = stats.diff_ci(np.log(table.loc[batches[0]] / table.loc[batches[1]]),
                          np.log(table.loc[batches[-2]] / table.loc[batches[-1]]))
    # Perfect scaling below B_crit, diminishing returns above it, both inside the range.
    inside = b_crit.low > 4 * batches[0] and b_crit.high < batches[-1]
    predicts = ratio.low > -math.log(AGREE) and ratio.high < math.log(AGREE)
    holds = falls.above(0) and inside and predicts
    numbers = {f"steps_at_{b}": stats.mean_ci(table.loc[b]).mean for b in batches}
    numbers |= {f"lr_at_{b}": float(lr[b]) for b in batches}
    numbers |= first.numbers(f"speedup_{batches[0]}_to_{batches[1]}")
    numbers |= last.numbers(f"speedup_{batches[-2]}_to_{batches[-1]}")
    numbers |= b_crit.numbers("b_crit") | b_simple.numbers("b_simple")
    numbers |= ratio.numbers("log_b_crit_over_b_simple")
    numbers |= falls.numbers("log_speedup_first_minus_last")
    rows = pd.DataFrame({"batch": batches, "tuned lr": [lr[b] for b in batches],
                         "steps to target": [str(stats.mean_ci(table.loc[b]))
                                             for b in batches],
                         "speed-up from the previous batch": [""] + [
                             str(gains[a, b]) for a, b in zip(batches[:-1], batches[1:],
                                                             strict=True)]})
    return ex.Findings(
        claim="With the learning rate tuned per batch size, the steps to a target loss fall "
              "in proportion to the batch size, then ever less (diminishing returns); the "
              "gradient noise scale B_simple measured in training predicts the critical "
              "batch size where that happens.",
        holds=holds,
        summary=f"steps to loss {TARGET} fall {first} times from "
                f"batch {batches[0]} to {batches[1]} (perfect: {batches[1] / batches[0]:g}) "
                f"but {last} times from {batches[-2]} to {batches[-1]}; fitted B_crit "
                f"{b_crit} (perfect scaling below, diminishing returns above) vs measured "
                f"B_simple {b_simple} (95% CIs over {len(fits)} seeds)",
        numbers=numbers,
        tables={"Steps to the target by batch size (tuned learning rate)": rows,
                "Per seed": fits.reset_index()},
        figures=(ctx.figure(_figure(tuned, fits, b_simple), "steps_by_batch_size.png"),))


EXPERIMENT = ex.Experiment(
    name="critical-batch-size",
    title="digits MLP, batch size x learning rate: perfect scaling, then diminishing "
          "returns past the gradient noise scale",
    course="beyond the course: Shallue et al. 2019 (data parallelism), McCandlish et al. "
           "2018 (noise scale)",
    run=run)
