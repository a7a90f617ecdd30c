"""jaxlab against the course's own tool, Keras 3 on the JAX backend: the batch-size and
learning-rate experiments.

Each experiment is the course's (:mod:`jaxlab.course.batch_size`,
:mod:`jaxlab.course.learning_rate`, quick settings): blobs, Dense(50, relu, he_uniform) -> 3
softmax, SGD; batch sizes 4, 32, 256 or learning rates 1e-7 .. 10, two seeds each. Keras
trains the variants one after the other, as a course notebook does (``model.fit`` per
variant, same data arrays, same epochs, batch size, optimizer, validation every epoch);
jaxlab trains them all in one compiled program. Both sides are timed end to end, compilation
included (jaxlab without its persistent cache); the mean final validation accuracy of each
side is printed as a sanity check (initial weights and shuffling differ, so the numbers
agree only roughly).

Needs the optional extra: ``pip install -e ".[bench]"`` (Keras 3); without it the script
says so and exits 0.

    python benchmarks/keras_compare.py                   # 20 epochs per experiment
    python benchmarks/keras_compare.py --epochs 200 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def keras_run(spec, ds) -> dict:
    import keras
    import numpy as np

    n_classes = ds.n_classes
    y, yv = np.eye(n_classes)[ds.y_train], np.eye(n_classes)[ds.y_val]
    accs, t = [], time.perf_counter()
    for v in spec.variants():
        m, tr = v.model, v.train
        keras.utils.set_random_seed(tr.seed)
        model = keras.Sequential(
            [keras.Input((ds.n_features,))]
            + [keras.layers.Dense(w, activation=m.activation, kernel_initializer=m.kernel_init)
               for w in m.widths]
            + [keras.layers.Dense(n_classes, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=tr.learning_rate,
                                                     momentum=tr.momentum),
                      loss="categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(ds.x_train, y, validation_data=(ds.x_val, yv), epochs=tr.epochs,
                            batch_size=tr.batch_size, shuffle=tr.shuffle, verbose=0)
        accs.append(history.history["val_accuracy"][-1])
    return {"s": time.perf_counter() - t, "val_accuracy": float(np.mean(accs))}


def jaxlab_run(spec) -> dict:
    import jaxlab as jl

    t = time.perf_counter()
    result = jl.run(spec, compilation_cache=False)
    total = time.perf_counter() - t
    return {"s": total, "compile_s": result.timing[0]["compile_s"],
            "val_accuracy": float(result.variants.final_val_accuracy.mean())}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("keras") is None:
        print("keras_compare: skipped, Keras 3 is not installed "
              "(pip install -e '.[bench]' or pip install 'keras>=3')")
        return {"benchmark": "keras_compare", "skipped": "keras not installed"}
    os.environ.setdefault("KERAS_BACKEND", "jax")
    sys.path.insert(0, ROOT)
    import keras

    if keras.backend.backend() != "jax":
        print(f"keras_compare: skipped, Keras runs on {keras.backend.backend()}, not jax "
              "(set KERAS_BACKEND=jax)")
        return {"benchmark": "keras_compare", "skipped": "keras backend is not jax"}

    import jaxlab as jl
    from jaxlab.course import batch_size, learning_rate

    rows = []
    for name, module in (("batch size", batch_size), ("learning rate", learning_rate)):
        spec = module.spec(quick=True)
        spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train,
                                                                   epochs=args.epochs))
        ds = jl.load(spec.data)
        ours = jaxlab_run(spec)
        theirs = keras_run(spec, ds)
        n = len(spec.variants())
        rows.append({"experiment": name, "variants": n, "epochs": args.epochs,
                     "keras_s": theirs["s"], "jaxlab_s": ours["s"],
                     "jaxlab_compile_s": ours["compile_s"],
                     "speedup": theirs["s"] / ours["s"],
                     "keras_val_accuracy": theirs["val_accuracy"],
                     "jaxlab_val_accuracy": ours["val_accuracy"]})
    print(f"Keras {keras.__version__} (JAX backend) one model.fit per variant vs jaxlab one "
          f"program, {args.epochs} epochs, CPU")
    print("| experiment | variants | Keras s | jaxlab s (compile) | speed-up | "
          "val acc Keras / jaxlab |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['experiment']} | {r['variants']} | {r['keras_s']:.1f} | "
              f"{r['jaxlab_s']:.1f} ({r['jaxlab_compile_s']:.1f}) | {r['speedup']:.1f}x | "
              f"{r['keras_val_accuracy']:.3f} / {r['jaxlab_val_accuracy']:.3f} |")
    report = {"benchmark": "keras_compare", "keras": keras.__version__, "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
