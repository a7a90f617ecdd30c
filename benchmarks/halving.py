"""Successive halving against the full grid on the learning-rate x batch-size problem.

The course's blobs problem (3 classes, 500 training samples, Dense(50, relu), SGD with
momentum 0.9) over 7 learning rates x 8 batch sizes (56 variants). The full grid trains
every variant for every epoch; the halving sweep keeps the best ``1/eta`` by validation loss
every ``k`` epochs and compacts the survivors. Prints the compute each spends (variant-epochs
and seconds), the saving, and whether halving finds the full grid's best variant (by final
validation loss; its rank in the full grid otherwise), all measured in this run.

    python benchmarks/halving.py                        # 40 epochs, a rung every 5, eta 2
    python benchmarks/halving.py --epochs 100 --every 10 --eta 3 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

LEARNING_RATES = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
BATCH_SIZES = [4, 8, 16, 32, 64, 128, 256, 450]


def spec(epochs: int, every: int, eta: float):
    import jaxlab as jl

    return jl.Sweep(
        data=jl.DataConfig("blobs", options=dict(n_samples=1000, centers=3, n_features=2,
                                                 cluster_std=2.0, random_state=2),
                           train_size=500),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=jl.TrainConfig(optimizer="sgd", momentum=0.9, epochs=epochs,
                             loss="categorical_crossentropy", metrics=("accuracy",),
                             halving_every=every, halving_eta=eta, halving_metric="val_loss"),
        grid={"learning_rate": LEARNING_RATES, "batch_size": BATCH_SIZES},
        name="lr-x-batch-size")


def run(s) -> tuple:
    import jaxlab as jl

    t = time.perf_counter()
    result = jl.run(s, compilation_cache=False)
    return result, time.perf_counter() - t


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--every", type=int, default=5, help="epochs per rung")
    parser.add_argument("--eta", type=float, default=2.0)
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args(argv)

    halving_spec = spec(args.epochs, args.every, args.eta)
    full_spec = dataclasses.replace(
        halving_spec, train=dataclasses.replace(halving_spec.train, halving_every=0))
    full, full_s = run(full_spec)
    halved, halved_s = run(halving_spec)

    fv, hv = full.variants, halved.variants
    full_work, halved_work = int(fv.epochs_run.sum()), int(hv.epochs_run.sum())
    best_full = int(fv.final_val_loss.idxmin())
    survivors = hv[hv.status != "pruned"]
    best_halved = int(survivors.final_val_loss.idxmin())
    rank = int((fv.final_val_loss < fv.final_val_loss[best_halved]).sum()) + 1

    def describe(i):
        row = fv.loc[i]
        return (f"lr={row['train.learning_rate']:g}, batch={int(row['train.batch_size'])}: "
                f"val_loss {row.final_val_loss:.4f}, val_accuracy {row.final_val_accuracy:.3f}")

    report = {
        "benchmark": "halving", "variants": len(fv), "epochs": args.epochs,
        "every": args.every, "eta": args.eta,
        "full_variant_epochs": full_work, "halving_variant_epochs": halved_work,
        "saved_fraction": 1 - halved_work / full_work,
        "full_s": full_s, "halving_s": halved_s,
        "full_train_s": full.timing[0]["train_s"], "halving_train_s": halved.timing[0]["train_s"],
        "halving_programs": halved.timing[0]["programs"],
        "best_full": best_full, "best_halving": best_halved,
        "same_best": best_full == best_halved, "halving_pick_rank_in_full_grid": rank,
    }
    print(f"{len(fv)} variants (7 learning rates x 8 batch sizes), {args.epochs} epochs, "
          f"a rung every {args.every} epochs, eta {args.eta:g}")
    print(f"full grid: {full_work} variant-epochs, {full_s:.1f} s "
          f"(train {report['full_train_s']:.2f} s)")
    print(f"halving:   {halved_work} variant-epochs, {halved_s:.1f} s "
          f"(train {report['halving_train_s']:.2f} s, {report['halving_programs']} programs)")
    print(f"compute saved: {100 * report['saved_fraction']:.0f}% of the variant-epochs "
          f"({full_work / halved_work:.1f}x less); wall-clock ratio full / halving "
          f"{full_s / halved_s:.2f}x, training only "
          f"{report['full_train_s'] / report['halving_train_s']:.2f}x")
    print(f"full grid's best:  v{best_full} {describe(best_full)}")
    print(f"halving's pick:    v{best_halved} {describe(best_halved)} (final values of the "
          f"full-grid run)")
    print("same best variant" if report["same_best"] else
          f"different variant: rank {rank} of {len(fv)} in the full grid")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
