"""What several epochs per call and host-drawn sample orders save, side by side in one run.

Two small sweeps where the host's per-epoch work matters: the course's batch-size study (8
batch sizes, 200 epochs, 125 microsteps an epoch) and the same blobs with one full batch an
epoch (8 seeds, 2,000 epochs). Each runs with one epoch per call (``epochs_per_call=1``),
with the default (up to 16 epochs a call), and with the default but the orders drawn in
the program (``planning.HOST_ORDERS = 0``). Prints compile and train seconds, the train time
per epoch and the ratios to one epoch per call; every run cold (no compilation cache).

    python benchmarks/dispatch.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import json


def spec(batch_sizes, seeds, epochs):
    import jaxlab as jl

    return jl.Sweep(
        data=jl.DataConfig("blobs", options=dict(n_samples=1000, centers=3, n_features=2,
                                                 cluster_std=2.0, random_state=2),
                           train_size=500),
        model=jl.ModelConfig(hidden=(50,), kernel_init="he_uniform"),
        train=jl.TrainConfig(optimizer="momentum", learning_rate=0.01, momentum=0.9,
                             epochs=epochs, loss="categorical_crossentropy",
                             metrics=("accuracy",)),
        grid={"batch_size": batch_sizes, "seed": seeds})


SWEEPS = {
    "batch-size study (8 x 200 epochs)": ([4, 8, 16, 32, 64, 128, 256, 450], [0], 200),
    "one batch an epoch (8 x 2,000 epochs)": ([500], list(range(8)), 2000),
}
MODES = {"one epoch per call": (1, None), "default": (None, None),
         "default, orders drawn in the program": (None, 0)}


def measure(s, per_call, host_orders) -> dict:
    import jax

    import jaxlab as jl
    from jaxlab import compiled, planning

    saved = planning.HOST_ORDERS
    if host_orders is not None:
        planning.HOST_ORDERS = host_orders
    try:
        compiled._compile_epoch.cache_clear()  # every run compiles, as a cold process does
        jax.clear_caches()
        r = jl.run(s, compilation_cache=False, epochs_per_call=per_call)
    finally:
        planning.HOST_ORDERS = saved
    t = r.timing[0]
    return {"compile_s": t["compile_s"], "train_s": t["train_s"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2, help="runs of each; the best is kept")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)
    measure(spec([500], [0], 2), 1, None)  # imports and first-use costs
    report = {}
    for name, (bs, seeds, epochs) in SWEEPS.items():
        s = spec(bs, seeds, epochs)
        rows = {}
        for _ in range(args.repeats):  # interleaved
            for mode, (per_call, host) in MODES.items():
                m = measure(s, per_call, host)
                best = rows.get(mode)
                rows[mode] = {k: min(v, best[k]) if best else v for k, v in m.items()}
        base = rows["one epoch per call"]
        print(f"\n{name}")
        print(f"{'':40} {'compile s':>10} {'train s':>8} {'ms/epoch':>9} {'train x':>8}")
        for mode, r in rows.items():
            r["ms_per_epoch"] = 1e3 * r["train_s"] / epochs
            r["train_speedup"] = base["train_s"] / r["train_s"]
            print(f"{mode:40} {r['compile_s']:>10.2f} {r['train_s']:>8.2f} "
                  f"{r['ms_per_epoch']:>9.2f} {r['train_speedup']:>7.2f}x")
        report[name] = rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
