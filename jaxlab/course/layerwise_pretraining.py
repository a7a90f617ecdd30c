"""layerwise-pretraining: greedy layer-wise pretraining, supervised and unsupervised.

Better Deep Learning, "Deeper models with greedy layer-wise pretraining": 3-class blobs,
hidden layers of 10 ReLU nodes (He init), SGD(0.01, momentum 0.9), 100 epochs per stage.
Supervised: train, then add a layer on top of the fixed earlier ones, train again, repeat.
Unsupervised: the same with an autoencoder reconstructing its input (MSE); at each depth
its fixed hidden layers feed a new softmax layer trained on the labels. A network of the
same depth trained from scratch is the reference. See :func:`jaxlab.recipes.greedy_pretraining`:
at each depth the three arms and every seed are one program (two compiles per depth: the
autoencoder's and the classifier's).
"""

from __future__ import annotations

import pandas as pd

import jaxlab as jl
from jaxlab import recipes
from jaxlab.course import framework as ex
from jaxlab.course import problems


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(),
        model=jl.ModelConfig(width=10, kernel_init="he_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=30 if quick else 100),
        grid={"seed": problems.seeds(quick, default=10, small=3)},
        name="pretraining")


def run(ctx: ex.Context) -> ex.Findings:
    depth = 3 if ctx.quick else 5
    # The autoencoder reconstructs raw blob coordinates (size ~10): SGD at 0.01 with
    # momentum overflows there, so it uses 0.001.
    out = recipes.greedy_pretraining(ctx.configure(spec(ctx.quick)), depth=depth,
                                     autoencoder={"learning_rate": 0.001}, run=ctx.run)
    table = out.summary
    mean = table.pivot_table(index="depth", columns="arm", values="final_val_accuracy",
                             aggfunc="mean")
    std = table.pivot_table(index="depth", columns="arm", values="final_val_accuracy",
                            aggfunc="std")
    train = table.pivot_table(index="depth", columns="arm", values="final_accuracy",
                              aggfunc="mean")
    recon = pd.Series({k + 1: ae.variants.final_val_loss.mean()
                       for k, ae in enumerate(out.autoencoders)}, name="autoencoder test MSE")
    input_var = float(jl.load(ctx.configure(spec(ctx.quick)).data).x_val.var(0).mean())
    ctx.table(table, "summary.csv")
    figures = (
        ctx.figure(_depth_figure(mean, std), "accuracy_by_depth.png"),
        ctx.figure(ex.panels({"autoencoder reconstruction (test MSE)": recon.to_frame()},
                             xlabel="depth", ylabel="MSE", panel_size=(5.0, 3.4)),
                   "autoencoder_by_depth.png"),
    )
    numbers = {f"val_accuracy_{arm}_depth_{d}": ex.number(mean.loc[d, arm])
               for d in mean.index for arm in mean.columns}
    numbers |= {f"val_accuracy_std_{arm}_depth_{d}": ex.number(std.loc[d, arm])
                for d in std.index for arm in std.columns}
    numbers |= {f"autoencoder_val_mse_depth_{d}": ex.number(x) for d, x in recon.items()}
    numbers["input_variance"] = input_var
    sup, uns = mean[recipes.SUPERVISED], mean[recipes.UNSUPERVISED]
    holds = (sup.iloc[-1] >= sup.iloc[0] - 0.03 and uns.min() > 0.7
             and recon.max() < 0.1 * input_var)
    k = depth
    return ex.Findings(
        claim="Greedy layer-wise pretraining builds a deep network one layer at a time "
              "without losing accuracy as layers are added; features learned without labels "
              "(an autoencoder) support a good classifier too.",
        holds=holds,
        summary=f"test accuracy at depth 1 → {k}: supervised {sup.iloc[0]:.3f} → "
                f"{sup.iloc[-1]:.3f} (± {std[recipes.SUPERVISED].iloc[-1]:.3f} over seeds), "
                f"unsupervised {uns.iloc[0]:.3f} → {uns.iloc[-1]:.3f}, from scratch "
                f"{mean[recipes.SCRATCH].iloc[0]:.3f} → {mean[recipes.SCRATCH].iloc[-1]:.3f}"
                f" (± {std[recipes.SCRATCH].iloc[-1]:.3f}); autoencoder test MSE "
                f"{recon.iloc[0]:.4f} → {recon.iloc[-1]:.4f} (input variance "
                f"{input_var:.1f})",
        numbers=numbers,
        tables={"Test accuracy by depth (mean over seeds)": mean.reset_index(),
                "Its standard deviation over seeds": std.reset_index(),
                "Train accuracy by depth": train.reset_index(),
                "Autoencoder reconstruction": recon.rename_axis("depth").reset_index()},
        figures=figures)


def _depth_figure(mean: pd.DataFrame, std: pd.DataFrame):
    fig = ex.panels({"test accuracy against depth (mean over seeds)": mean},
                    xlabel="hidden layers", ylabel="test accuracy", panel_size=(6.0, 3.8))
    ax = fig.axes[0]
    for line, col in zip(ax.lines, mean.columns, strict=True):
        ax.fill_between(mean.index, mean[col] - std[col], mean[col] + std[col],
                        color=line.get_color(), alpha=0.15, linewidth=0)
    return fig


EXPERIMENT = ex.Experiment(
    name="layerwise-pretraining",
    title="supervised and unsupervised greedy pretraining; accuracy against depth",
    course="Better Deep Learning, ch. 'Deeper models with greedy layer-wise pretraining'",
    run=run)
