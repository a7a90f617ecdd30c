"""Time per variant-epoch as a sweep grows: 1, 8, 64, 512 and 4,096 blobs variants.

The course's learning-rate problem (3-class blobs, 500 training samples, Dense(50, relu),
SGD with momentum, batch size 32) as a log-uniform random search over the learning rate
with ``N`` variants, one compiled program each. The time is training only (compilation
excluded, it is reported apart), divided by the variant-epochs trained. Prints a table and
the speed-up per variant-epoch against one variant, all measured in this run. A last row
trains the largest sweep again in chunks of a ``--budget`` (default 32 MB): on a CPU, a
working set beyond the last-level cache makes each variant-epoch slower, and chunks that
fit in it restore the speed (see ``benchmarks/many_variants.py``).

    python benchmarks/scaling.py                    # 1 .. 4096 variants, 3 epochs
    python benchmarks/scaling.py --sizes 1 64 --epochs 5 --budget none --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

SIZES = (1, 8, 64, 512, 4096)


def spec(n: int, epochs: int):
    import jaxlab as jl

    return jl.Sweep(
        data=jl.DataConfig("blobs", options=dict(n_samples=1000, centers=3, n_features=2,
                                                 cluster_std=2.0, random_state=2),
                           train_size=500),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=jl.TrainConfig(optimizer="sgd", momentum=0.9, batch_size=32, epochs=epochs,
                             loss="categorical_crossentropy", metrics=("accuracy",)),
        random={"n": n, "seed": 0, "learning_rate": {"log_uniform": [1e-4, 1.0]}},
        name=f"scaling-{n}")


def measure(n: int, epochs: int, budget: str | None = None) -> dict:
    import jaxlab as jl

    t = time.perf_counter()
    result = jl.run(spec(n, epochs), compilation_cache=False, memory_budget=budget)
    total = time.perf_counter() - t
    timing = result.timing[0]
    variant_epochs = int(result.variants.epochs_run.sum())
    return {"variants": n, "epochs": epochs, "variant_epochs": variant_epochs,
            "budget": budget, "chunks": timing["chunks"], "chunk_size": timing["chunk_size"],
            "compile_s": timing["compile_s"], "train_s": timing["train_s"], "total_s": total,
            "us_per_variant_epoch": 1e6 * timing["train_s"] / variant_epochs}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--budget", default="32MB",
                        help="memory budget of the extra chunked run of the largest size "
                             "('none': no extra run)")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args(argv)

    import jax

    measure(args.sizes[0], 1)  # warm up: imports, data, first-use costs
    rows = [measure(n, args.epochs) for n in args.sizes]
    if args.budget.lower() != "none":
        rows.append(measure(args.sizes[-1], args.epochs, args.budget))
    base = rows[0]["us_per_variant_epoch"]
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}, "
          f"{args.epochs} epochs, blobs (500 train), MLP 2-50-3, batch 32")
    print(f"{'variants':>9} {'compile s':>10} {'train s':>9} {'us/variant-epoch':>17} "
          f"{'speed-up vs 1':>14}")
    for r in rows:
        r["speedup_vs_first"] = base / r["us_per_variant_epoch"]
        chunked = (f"  ({r['budget']}: {r['chunks']} chunks of {r['chunk_size']})"
                   if r["budget"] else "")
        print(f"{r['variants']:>9} {r['compile_s']:>10.2f} {r['train_s']:>9.3f} "
              f"{r['us_per_variant_epoch']:>17.1f} {r['speedup_vs_first']:>13.1f}x{chunked}")
    report = {"benchmark": "scaling", "device": jax.devices()[0].device_kind,
              "device_count": jax.device_count(), "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
