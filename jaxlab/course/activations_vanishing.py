"""activations-vanishing: in a deep sigmoid network the first layer's gradient vanishes.

Better Deep Learning, "Fix vanishing gradients with ReLU": circles, 5 hidden layers of 5
nodes, SGD(0.01, momentum 0.9); sigmoid and tanh (Glorot init) against ReLU (He init). The
per-layer gradient norms are recorded inside the compiled loop (``train.diagnostics``);
each activation is its own program (three compiles).
"""

from __future__ import annotations

import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

DEPTH = 5


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.circles(scale_x="minmax"),
        model=jl.ModelConfig(width=5, depth=DEPTH),
        train=problems.sgd(loss="binary_crossentropy", epochs=20 if quick else 500,
                           diagnostics=True),
        zip={"activation": ["sigmoid", "tanh", "relu"],
             "kernel_init": ["glorot_uniform", "glorot_uniform", "he_uniform"]},
        grid={"seed": problems.seeds(quick)},
        name="activations-vanishing")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    h = result.history
    depth = max(int(c.rpartition("_")[2]) for c in h.columns
                if c.startswith("grad_norm_") and c[-1].isdigit())
    layers = [f"grad_norm_{l}" for l in range(1, depth + 1)] + ["grad_norm_out"]
    per_variant = h.groupby("variant")[layers].mean()  # mean over the epochs trained
    per_variant["ratio"] = per_variant["grad_norm_1"] / per_variant[f"grad_norm_{depth}"]
    first = h[h.epoch == 1].set_index("variant")
    per_variant["ratio_epoch_1"] = first["grad_norm_1"] / first[f"grad_norm_{depth}"]
    v = result.variants.join(per_variant)
    g = v.groupby("model.activation")
    ratio, ratio1 = g.ratio.mean(), g.ratio_epoch_1.mean()
    acc = g.final_val_accuracy.mean()
    sat = h.groupby("variant").saturated_fraction.mean()
    saturated = result.variants.assign(s=sat).groupby("model.activation").s.mean()
    norms = g[layers].mean().T
    norms.index = [str(l) for l in range(1, depth + 1)] + ["out"]
    figures = (
        ctx.figure(_norm_figure(norms), "gradient_norm_by_layer.png"),
        ctx.figure(plotting.curves(result, "val_accuracy", color="activation",
                                   aggregate="seed", title="test accuracy by activation "
                                   f"({depth} hidden layers of 5)"),
                   "test_accuracy_by_activation.png"),
        ctx.figure(plotting.curves(result, "grad_norm_1", color="activation",
                                   aggregate="seed", logy=True,
                                   title="first hidden layer's gradient norm"),
                   "first_layer_gradient_norm.png"),
    )
    acts = list(ratio.index)
    numbers = {f"ratio_first_to_last_{a}": ex.number(ratio[a]) for a in acts}
    numbers |= {f"ratio_epoch_1_{a}": ex.number(ratio1[a]) for a in acts}
    numbers |= {f"test_accuracy_{a}": ex.number(acc[a]) for a in acts}
    numbers |= {f"saturated_fraction_{a}": ex.number(saturated[a]) for a in acts}
    holds = ratio["sigmoid"] < 0.1 and ratio["relu"] >= 0.1
    return ex.Findings(
        claim="In a deep network the sigmoid's small slope (at most 0.25) shrinks the "
              "gradient at every layer: the first layer's gradient is a small fraction of "
              "the last one's and the network does not learn; ReLU keeps it.",
        holds=holds,
        summary=f"first/last hidden-layer gradient norm (mean over epochs): sigmoid "
                f"{ratio['sigmoid']:.4f}, tanh {ratio.get('tanh', float('nan')):.3f}, relu "
                f"{ratio['relu']:.3f}; test accuracy sigmoid {acc['sigmoid']:.2f}, tanh "
                f"{acc.get('tanh', float('nan')):.2f}, relu {acc['relu']:.2f}",
        numbers=numbers,
        tables={"Mean gradient norm per layer (over epochs and seeds)": (
                    norms.rename_axis("layer").reset_index()),
                "By activation": pd.DataFrame({
                    "first/last gradient (all epochs)": ratio, "first/last (epoch 1)": ratio1,
                    "test accuracy": acc, "saturated fraction": saturated}).reset_index()},
        figures=figures)


def _norm_figure(norms: pd.DataFrame):
    fig = ex.panels({"gradient norm per layer (mean over epochs and seeds)": norms},
                    xlabel="layer (input side first)", ylabel="gradient norm", logy=True,
                    panel_size=(6.0, 3.8))
    return fig


EXPERIMENT = ex.Experiment(
    name="activations-vanishing",
    title="deep (5 layers) sigmoid, tanh and relu on circles; the first layer's gradient "
          "norm collapses for sigmoid",
    course="Better Deep Learning, ch. 'Fix vanishing gradients with ReLU'; lecture "
           "'Training neural networks' (sigmoid's 0.25 gradient)",
    run=run)
