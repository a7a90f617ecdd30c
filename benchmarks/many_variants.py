"""A 10,000-variant blobs sweep in bounded memory: peak RSS and time.

10,000 variants (100 learning rates x 100 seeds) of the course's blobs problem (500
training samples, Dense(50, relu), SGD with momentum, batch size 32) for a few epochs, with
a device memory budget so that the sweep runs in chunks of the largest size that fits (one
compiled program for every chunk). Prints the chunk layout, XLA's per-variant estimate, the
time and the peak resident memory of this process (``resource.getrusage``), next to the
peak after loading JAX and the data (the floor any sweep pays).

    python benchmarks/many_variants.py                        # 10,000 variants, 32 MB
    python benchmarks/many_variants.py --budget none          # one chunk
    python benchmarks/many_variants.py --variants 2000 --epochs 5 --json out.json

On a CPU the budget is also a speed setting: a chunk whose working set stays in the
last-level cache trains several times faster per variant-epoch than one that streams from
RAM (on a 2-core EPYC with 32 MiB of L3, 32 MB chunks of 157 variants were ~10x faster than
one 2.9 GB chunk of 10,000). The default, 32 MB, is that cache size.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def spec(n: int, epochs: int):
    import numpy as np

    import jaxlab as jl

    side = math.isqrt(n)
    lrs = list(np.geomspace(1e-4, 1.0, side))
    seeds = list(range(-(-n // side)))
    return jl.Sweep(
        data=jl.DataConfig("blobs", options=dict(n_samples=1000, centers=3, n_features=2,
                                                 cluster_std=2.0, random_state=2),
                           train_size=500),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=jl.TrainConfig(optimizer="sgd", momentum=0.9, batch_size=32, epochs=epochs,
                             loss="categorical_crossentropy", metrics=("accuracy",)),
        grid={"learning_rate": lrs, "seed": seeds}, name=f"many-{n}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--budget", default="32MB",
                        help="device memory budget, e.g. 256MB, or 'none' (default: 32MB)")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args(argv)

    import jax

    import jaxlab as jl

    s = spec(args.variants, args.epochs)
    jl.plan(s)  # loads the data
    jax.numpy.zeros(1).block_until_ready()
    floor = peak_rss_mb()
    budget = None if args.budget.lower() == "none" else args.budget
    t = time.perf_counter()
    result = jl.run(s, compilation_cache=False, memory_budget=budget)
    total = time.perf_counter() - t
    timing = result.timing[0]
    n = len(result)
    variant_epochs = int(result.variants.epochs_run.sum())
    report = {
        "benchmark": "many_variants", "device": jax.devices()[0].device_kind,
        "variants": n, "epochs": args.epochs, "budget": args.budget,
        "chunks": timing["chunks"], "chunk_size": timing["chunk_size"],
        "bytes_per_variant": timing.get("bytes_per_variant"),
        "memory_estimate": timing.get("memory_estimate"),
        "compile_s": timing["compile_s"], "train_s": timing["train_s"], "total_s": total,
        "us_per_variant_epoch": 1e6 * timing["train_s"] / variant_epochs,
        "peak_rss_mb": peak_rss_mb(), "rss_floor_mb": floor,
        "best_val_accuracy": float(result.variants.final_val_accuracy.max()),
    }
    print(f"{n} variants x {args.epochs} epochs on {report['device']}, budget {args.budget}: "
          f"{report['chunks']} chunk(s) of {report['chunk_size']}"
          + (f" ({report['bytes_per_variant']} bytes/variant, {report['memory_estimate']})"
             if report["bytes_per_variant"] else ""))
    print(f"time: {total:.1f} s (compile {report['compile_s']:.1f} s, train "
          f"{report['train_s']:.1f} s, {report['us_per_variant_epoch']:.0f} us/variant-epoch)")
    print(f"peak RSS: {report['peak_rss_mb']:.0f} MB (after loading JAX and the data: "
          f"{floor:.0f} MB; the sweep added {report['peak_rss_mb'] - floor:.0f} MB)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
