"""layerwise-pretraining: greedy layer-wise pretraining, supervised and unsupervised.

Better Deep Learning, "Deeper models with greedy layer-wise pretraining": 3-class blobs,
hidden layers of 10 ReLU nodes (He init), SGD(0.01, momentum 0.9), 100 epochs per stage,
the autoencoders with the same settings and MSE, as in the book. Done the book's way
(:func:`jaxlab.recipes.greedy_pretraining`, ``reuse_output=True``): supervised, train,
then pop the output layer, fix the earlier layers, add a hidden layer, put the same output
layer back and train again; unsupervised, the same with an autoencoder reconstructing its
raw input, whose reconstruction layer is reused from stage to stage, and whose fixed hidden
layers feed a new softmax layer trained on the labels at each depth. A network of the same
depth trained from scratch is the reference (beyond the book). The book adds 10 layers in
its supervised part and 5 in its unsupervised part; here both go to depth 6 (3 in the quick
run, too shallow for the collapse). Every arm and seed of a depth is one program (two
compiles per depth: the autoencoder's and the classifier's).

Numbers are means with 95% intervals over 10 seeds. "Keeps its accuracy" holds when the
interval of accuracy at the deepest depth minus at depth 1 (paired by seed) lies above
-0.03 (no loss of 0.03 or more); a collapse is shown when it lies below 0. The
alternative procedure (fresh output and reconstruction layers at every stage) is
``greedy_pretraining(..., reuse_output=False)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab import recipes
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

MARGIN = 0.03  # "without losing accuracy": no loss of this much, beyond the seed noise
SEED = "train.seed"


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(),
        model=jl.ModelConfig(width=10, kernel_init="he_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=100),
        grid={"seed": list(range(10))},  # 10 seeds, quick or not: the collapse is per seed
        name="pretraining")


def run(ctx: ex.Context) -> ex.Findings:
    # The book: the base and 5 added layers (unsupervised). The collapse shows from depth
    # 5 on; the quick run (two compiles per depth) stops at 3.
    depth = 3 if ctx.quick else 6
    s = ctx.configure(spec(ctx.quick))
    out = recipes.greedy_pretraining(s, depth=depth, run=ctx.run)
    table = out.summary
    ctx.table(table, "summary.csv")
    arms = [recipes.SUPERVISED, recipes.UNSUPERVISED, recipes.SCRATCH]
    acc = {a: table[table.arm == a].pivot_table(index="depth", columns=SEED,
                                                  values="final_val_accuracy")
           for a in arms}  # depth x seed
    recon = pd.DataFrame({k + 1: ae.variants.set_index(SEED).final_val_loss
                          for k, ae in enumerate(out.autoencoders)}).T  # depth x seed
    at = {(a, d): stats.mean_ci(acc[a].loc[d]) for a in arms for d in acc[a].index}
    change = {a: stats.diff_ci(acc[a].loc[depth], acc[a].loc[1]) for a in arms}
    trend = {a: stats.mean_ci([stats.spearman(acc[a].index, acc[a][c]) for c in acc[a]])
             for a in arms}
    keeps = {a: change[a].low > -MARGIN for a in arms}
    collapses = {a: change[a].below(0) for a in arms}
    rec = {d: stats.mean_ci(recon.loc[d]) for d in recon.index}
    input_var = float(jl.load(s.data).x_val.var(0).mean())
    # An autoencoder collapsed when it reconstructs no better than the inputs' mean would.
    collapsed = {d: stats.mean_ci(recon.loc[d] > 0.9 * input_var) for d in recon.index}
    diverged = {k + 1: float((ae.variants.status == "diverged").mean())
                for k, ae in enumerate(out.autoencoders)}
    figures = (
        ctx.figure(_with_bands(acc, title="test accuracy against depth (mean, 95% CI over "
                               "seeds)", ylabel="test accuracy"), "accuracy_by_depth.png"),
        ctx.figure(_with_bands({"autoencoder": recon}, title="reconstruction of the inputs "
                               "(test MSE; mean, 95% CI)", ylabel="MSE", logy=True),
                   "autoencoder_by_depth.png"),
    )
    numbers = {"input_variance": input_var, "seeds": at[arms[0], 1].n, "depth": depth}
    for (a, d), e in at.items():
        numbers |= e.numbers(f"val_accuracy_{a}_depth_{d}")
    for a in arms:
        numbers |= change[a].numbers(f"val_accuracy_{a}_depth_{depth}_minus_1")
        numbers |= trend[a].numbers(f"rank_correlation_depth_val_accuracy_{a}")
    for d, e in rec.items():
        numbers |= e.numbers(f"autoencoder_val_mse_depth_{d}")
        numbers |= collapsed[d].numbers(f"autoencoder_collapsed_fraction_depth_{d}")
        numbers[f"autoencoder_diverged_fraction_depth_{d}"] = diverged[d]
    holds = keeps[recipes.SUPERVISED] and keeps[recipes.UNSUPERVISED]
    sup, uns = recipes.SUPERVISED, recipes.UNSUPERVISED
    return ex.Findings(
        claim="Greedy layer-wise pretraining builds a deep network one layer at a time "
              "without losing accuracy as layers are added; features learned without labels "
              "(an autoencoder) support a good classifier too.",
        holds=holds,
        summary=f"(the book's procedure; mean [95% CI] over "
                f"{numbers['seeds']} seeds): test accuracy at depth 1 → {depth}: supervised "
                f"{at[sup, 1]:.3f} → {at[sup, depth]:.3f} (change {change[sup]:.3f}, keeps it: "
                f"{stats.verdict(keeps[sup])}); unsupervised {at[uns, 1]:.3f} → "
                f"{at[uns, depth]:.3f} (change {change[uns]:.3f}, keeps it: "
                f"{stats.verdict(keeps[uns])}; "
                + ("it collapses at depth, beyond the seed noise" if collapses[uns]
                   else "no collapse shown")
                + f"; autoencoders reconstructing no better than the mean: "
                  f"{collapsed[1].mean:.0%} at depth 1, {collapsed[depth].mean:.0%} at depth "
                  f"{depth}; diverged at depth 1: {diverged[1]:.0%}"
                + f"); from scratch {at[recipes.SCRATCH, 1]:.3f} → "
                  f"{at[recipes.SCRATCH, depth]:.3f}; autoencoder test MSE {rec[1]:.3g} → "
                  f"{rec[depth]:.3g} (input variance {input_var:.1f})",
        numbers=numbers,
        tables={"Test accuracy by depth (mean and 95% CI over seeds)": pd.concat(
                    {a: _ci_table(acc[a]) for a in arms}, axis=1).rename_axis("depth")
                    .pipe(_flat).reset_index(),
                "Autoencoder reconstruction, test MSE (mean and 95% CI over seeds)":
                    _ci_table(recon).rename_axis("depth").reset_index()},
        figures=figures)


def _ci_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``frame`` (values per seed in columns) as mean, CI low, CI high."""
    rows = {k: stats.mean_ci(frame.loc[k]) for k in frame.index}
    return pd.DataFrame({"mean": [e.mean for e in rows.values()],
                         "CI low": [e.low for e in rows.values()],
                         "CI high": [e.high for e in rows.values()]}, index=list(rows))


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_axis([f"{a} {b}" for a, b in frame.columns], axis=1)


def _with_bands(frames: dict[str, pd.DataFrame], *, title: str, ylabel: str,
                logy: bool = False):
    """One line per ``{label: depth x seed}``: the mean over seeds and its 95% band."""
    tables = {label: _ci_table(f) for label, f in frames.items()}
    fig = ex.panels({title: pd.DataFrame({k: t["mean"] for k, t in tables.items()})},
                    xlabel="hidden layers", ylabel=ylabel, logy=logy, panel_size=(6.0, 3.8))
    ax = fig.axes[0]
    for line, t in zip(ax.lines, tables.values(), strict=True):
        ax.fill_between(t.index, np.asarray(t["CI low"], float),
                        np.asarray(t["CI high"], float), color=line.get_color(), alpha=0.15,
                        linewidth=0)
    return fig


EXPERIMENT = ex.Experiment(
    name="layerwise-pretraining",
    title="supervised and unsupervised greedy pretraining, the book's way; accuracy against "
          "depth",
    course="Better Deep Learning, ch. 'Deeper models with greedy layer-wise pretraining'",
    run=run)
