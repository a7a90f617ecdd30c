"""capacity-layers: more hidden layers of 10 nodes on the same problem; the deepest get stuck.

Better Deep Learning, "Configure capacity with nodes and layers": 1..5 hidden ReLU layers of
10 nodes on 20-class blobs, SGD(0.01, momentum 0.9), 100 epochs. Depth is vectorized
(skipped layers are masked), so every depth and every seed is one compiled program.
"""

from __future__ import annotations

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

EARLY = 20  # the epoch at which learning speed is compared


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs20(),
        # The course: he_uniform hidden layers, the output Dense at Keras' glorot_uniform.
        model=jl.ModelConfig(width=10, kernel_init="he_uniform", output_init="glorot_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=EARLY if quick else 100),
        grid={"depth": [1, 3, 5] if quick else [1, 2, 3, 4, 5],
              "seed": problems.seeds(quick, default=5)},
        name="capacity-layers")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    early = ex.at_epoch(result, "loss", EARLY, "depth")
    final = ex.by_axis(result, "final_loss", "depth")
    spread = ex.by_axis(result, "final_val_accuracy", "depth", stat="std")
    acc = ex.by_axis(result, "final_val_accuracy", "depth")
    depths = list(final.index)
    lo, hi = depths[0], depths[-1]
    epochs = int(result.history.epoch.max())
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="depth", aggregate="seed",
                                   title="training loss by number of hidden layers (mean ± "
                                         "std over seeds)"), "loss_by_depth.png"),
        ctx.figure(plotting.sensitivity(result, "val_accuracy", axis="depth",
                                        aggregate="seed"), "test_accuracy_by_depth.png"),
    )
    numbers = {f"loss_at_epoch_{EARLY}_depth_{d}": ex.number(early[d]) for d in depths}
    numbers |= {f"final_loss_depth_{d}": ex.number(final[d]) for d in depths}
    numbers |= {f"test_accuracy_depth_{d}": ex.number(acc[d]) for d in depths}
    numbers |= {f"test_accuracy_std_depth_{d}": ex.number(spread[d]) for d in depths}
    holds = early[hi] > early[lo] and final[hi] > final[lo]
    return ex.Findings(
        claim="More layers add capacity, but with too many layers the model learns the "
              "training set more slowly or gets stuck during optimization.",
        holds=holds,
        summary=f"training loss at epoch {EARLY}: {early[lo]:.3f} with {lo} layer vs "
                f"{early[hi]:.3f} with {hi}; after {epochs} epochs {final[lo]:.3f} vs "
                f"{final[hi]:.3f}, test accuracy {acc[lo]:.2f} ± {spread[lo]:.2f} vs "
                f"{acc[hi]:.2f} ± {spread[hi]:.2f} over seeds",
        numbers=numbers,
        tables={"By depth (mean over seeds)": (
            early.rename(f"train loss at epoch {EARLY}").to_frame()
            .join(final.rename("final train loss")).join(acc.rename("test accuracy"))
            .join(spread.rename("test accuracy std")).reset_index())},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="capacity-layers",
    title="the same problem: 1..5 hidden layers; deeper learns slower, the deepest get stuck",
    course="Better Deep Learning, ch. 'Configure capacity with nodes and layers'",
    run=run)
