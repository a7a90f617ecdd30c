"""The course's batch-size experiment: one jaxlab sweep against 8 plain runs, one process.

Setup (Better Deep Learning, "batch size"): blobs, 1000 samples, 3 centers, 2 features,
cluster_std 2, first half train; Dense(50, relu, he_uniform) -> 3 softmax; SGD lr 0.01
momentum 0.9; 200 epochs; batch sizes 4, 8, 16, 32, 64, 128, 256, 450; validation loss and
accuracy every epoch.

The baseline is what a researcher writes today: a jitted Flax NNX + Optax train step called
once per batch from Python, one configuration after another (each batch shape compiles once).

    python benchmarks/batch_size.py            # cold, then warm (a child process reuses the cache)
    python benchmarks/batch_size.py --epochs 20

Each side runs with its defaults: the plain loop with JAX's (no persistent compilation
cache), jaxlab with its own (the persistent cache on). Cold: jaxlab's cache is empty. Warm:
the cache filled by the cold run, in a second process, as when a user reruns a sweep or
changes its values. Prints seconds and the ratio plain / jaxlab.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BATCH_SIZES = [4, 8, 16, 32, 64, 128, 256, 450]


def jaxlab_sweep(epochs: int) -> dict:
    import jaxlab as jl

    spec = jl.Sweep(
        data=jl.DataConfig("blobs", options=dict(n_samples=1000, centers=3, n_features=2,
                                                 cluster_std=2.0, random_state=2),
                           train_size=500),
        model=jl.ModelConfig(hidden=(50,), activation="relu", kernel_init="he_uniform"),
        train=jl.TrainConfig(optimizer="sgd", learning_rate=0.01, momentum=0.9, epochs=epochs,
                             loss="categorical_crossentropy", metrics=("accuracy",)),
        grid={"batch_size": BATCH_SIZES},
    )
    t = time.perf_counter()
    result = jl.run(spec)
    total = time.perf_counter() - t
    acc = result.variants.final_val_accuracy.to_numpy()
    return {"total_s": total, "compile_s": result.timing[0]["compile_s"],
            "train_s": result.timing[0]["train_s"], "val_accuracy": acc.round(3).tolist()}


def plain_loop(epochs: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax import nnx
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2)
    x = x.astype(np.float32)
    y = np.eye(3, dtype=np.float32)[y]
    xt, yt, xv, yv = x[:500], y[:500], x[500:], y[500:]

    class Net(nnx.Module):
        def __init__(self, rngs):
            init = nnx.initializers.he_uniform()
            self.hidden = nnx.Linear(2, 50, kernel_init=init, rngs=rngs)
            self.out = nnx.Linear(50, 3, rngs=rngs)

        def __call__(self, x):
            return self.out(jax.nn.relu(self.hidden(x)))

    def make_steps(graphdef, tx):
        @jax.jit
        def step(params, opt_state, xb, yb):
            def loss(p):
                return optax.softmax_cross_entropy(nnx.merge(graphdef, p)(xb), yb).mean()

            g = jax.grad(loss)(params)
            updates, opt_state = tx.update(g, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        @jax.jit
        def evaluate(params, xb, yb):
            z = nnx.merge(graphdef, params)(xb)
            return (optax.softmax_cross_entropy(z, yb).mean(),
                    jnp.mean(jnp.argmax(z, -1) == jnp.argmax(yb, -1)))

        return step, evaluate

    accs = []
    t = time.perf_counter()
    for b in BATCH_SIZES:
        model = Net(nnx.Rngs(0))
        graphdef, params = nnx.split(model)
        tx = optax.sgd(0.01, momentum=0.9)
        opt_state = tx.init(params)
        step, evaluate = make_steps(graphdef, tx)

        rng = np.random.default_rng(0)
        for _ in range(epochs):
            order = rng.permutation(500)
            for s in range(0, 500, b):
                idx = order[s: s + b]
                params, opt_state = step(params, opt_state, xt[idx], yt[idx])
            loss, acc = evaluate(params, xv, yv)  # Keras' validation_data, every epoch
        accs.append(round(float(acc), 3))
    return {"total_s": time.perf_counter() - t, "val_accuracy": accs}


def measure(epochs: int, cache_dir: str) -> dict:
    """Both sides with their defaults: plain JAX has no persistent cache, jaxlab has one."""
    import jax

    jax.jit(lambda a: a + 1)(1.0).block_until_ready()  # backend start-up, outside timings
    jax.config.update("jax_enable_compilation_cache", False)
    base = plain_loop(epochs)
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    lab = jaxlab_sweep(epochs)
    return {"baseline": base, "jaxlab": lab, "ratio": base["total_s"] / lab["total_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--cache-dir", help="(internal) persistent cache for the warm run")
    parser.add_argument("--json", action="store_true", help="(internal) print JSON only")
    args = parser.parse_args()
    if args.cache_dir:
        out = measure(args.epochs, args.cache_dir)
        print(json.dumps(out))
        return
    with tempfile.TemporaryDirectory() as cache:
        runs = {}
        for phase in ("cold", "warm"):
            proc = subprocess.run(
                [sys.executable, __file__, "--epochs", str(args.epochs), "--cache-dir", cache],
                capture_output=True, text=True, check=True,
                env={**os.environ, "JAXLAB_COMPILATION_CACHE": "1"})
            runs[phase] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"batch-size sweep: {len(BATCH_SIZES)} variants x {args.epochs} epochs")
    for phase, r in runs.items():
        b, j = r["baseline"], r["jaxlab"]
        print(f"  {phase}: plain loop {b['total_s']:.2f} s | jaxlab {j['total_s']:.2f} s "
              f"(compile {j['compile_s']:.2f} s, train {j['train_s']:.2f} s) "
              f"| ratio {r['ratio']:.1f}x")
    print("  final val accuracy, plain:", runs["cold"]["baseline"]["val_accuracy"])
    print("  final val accuracy, jaxlab:", runs["cold"]["jaxlab"]["val_accuracy"])


if __name__ == "__main__":
    main()
