"""An MNIST-shaped sweep: jaxlab against a hand-written vmap, one process.

784-256-256-10 ReLU MLP, Adam, 8 learning rates x 4 seeds = 32 variants, batch 128,
3 epochs, synthetic data (labels from a random teacher network, so there is something to
learn). The hand-written version is what a JAX expert writes for this sweep: parameters
stacked over variants, ``optax.inject_hyperparams(optax.adam)``, ``vmap`` over variants,
``lax.scan`` over the batches of an epoch, one jit per epoch.

    python benchmarks/mnist_shaped.py [--n 10000] [--epochs 3]

Prints seconds outside compilation, GFLOP/s achieved (2 x multiply-adds of the forward
and backward passes) and the ratio hand-written / jaxlab (> 1 means jaxlab is faster).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

SIZES = (784, 256, 256, 10)
LRS = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2]
SEEDS = [0, 1, 2, 3]


def make_data(n: int):
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    w = rng.normal(size=(784, 10)).astype(np.float32)
    y = np.argmax((x - 0.5) @ w, axis=1).astype(np.int32)
    return x, y


def flops(n_samples: int, n_variants: int, epochs: int) -> float:
    macs = sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True))
    return 2 * 3 * macs * n_samples * n_variants * epochs  # forward + 2x backward


def run_jaxlab(x, y, epochs: int) -> dict:
    import jaxlab as jl

    ds = jl.from_arrays(x, y, task="classification")
    spec = jl.Sweep(
        model=jl.ModelConfig(hidden=SIZES[1:-1], activation="relu"),
        train=jl.TrainConfig(optimizer="adam", batch_size=128, epochs=epochs, shuffle=True,
                             loss="sparse_categorical_crossentropy", metrics=("accuracy",)),
        grid={"learning_rate": LRS, "seed": SEEDS})
    t = time.perf_counter()
    result = jl.run(spec, dataset=ds, compilation_cache=False)
    total = time.perf_counter() - t
    timing = result.timing[0]
    return {"train_s": timing["train_s"], "compile_s": timing["compile_s"], "total_s": total,
            "final_loss": float(result.variants.final_loss.min())}


def run_handwritten(x, y, epochs: int) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    n, b = len(x), 128
    steps = n // b  # drop the ragged batch: the simplest hand-written loop does
    v = len(LRS) * len(SEEDS)
    lrs = jnp.repeat(jnp.asarray(LRS, jnp.float32), len(SEEDS))
    seeds = jnp.tile(jnp.asarray(SEEDS), len(LRS))

    def init(key):
        params = []
        for i, (a, c) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
            k = jax.random.fold_in(key, i)
            lim = jnp.sqrt(6 / (a + c))
            params.append((jax.random.uniform(k, (a, c), minval=-lim, maxval=lim),
                           jnp.zeros(c)))
        return params

    def forward(params, xb):
        h = xb
        for w, bias in params[:-1]:
            h = jax.nn.relu(h @ w + bias)
        w, bias = params[-1]
        return h @ w + bias

    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3, eps=1e-7)
    params = jax.vmap(init)(jax.vmap(jax.random.PRNGKey)(seeds))
    opt_state = jax.vmap(tx.init)(params)
    opt_state.hyperparams["learning_rate"] = lrs
    xd, yd = jnp.asarray(x), jnp.asarray(y)

    def one_step(p, o, xb, yb):
        def loss(p):
            return optax.softmax_cross_entropy_with_integer_labels(forward(p, xb), yb).mean()

        value, g = jax.value_and_grad(loss)(p)
        updates, o = tx.update(g, o, p)
        return optax.apply_updates(p, updates), o, value

    @jax.jit
    def epoch(params, opt_state, key):
        perms = jax.vmap(lambda s: jax.random.permutation(jax.random.fold_in(key, s), n))(seeds)

        def body(carry, i):
            p, o = carry
            idx = jax.lax.dynamic_slice_in_dim(perms, i * b, b, axis=1)
            p, o, value = jax.vmap(one_step)(p, o, xd[idx], yd[idx])
            return (p, o), value

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), jnp.arange(steps))
        return params, opt_state, losses.mean(0)

    t = time.perf_counter()
    compiled = epoch.lower(params, opt_state, jax.random.PRNGKey(0)).compile()
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    for e in range(epochs):
        params, opt_state, losses = compiled(params, opt_state, jax.random.PRNGKey(e))
    losses = np.asarray(losses)
    return {"train_s": time.perf_counter() - t, "compile_s": compile_s,
            "final_loss": float(losses.min()), "variants": v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="training samples")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    x, y = make_data(args.n)
    v = len(LRS) * len(SEEDS)
    hand = run_handwritten(x, y, args.epochs)
    lab = run_jaxlab(x, y, args.epochs)
    work = flops(args.n, v, args.epochs) / 1e9
    print(f"MNIST-shaped sweep: {v} variants, {args.n} samples, {args.epochs} epochs, "
          f"{work:.0f} GFLOP")
    for name, r in (("hand-written vmap", hand), ("jaxlab", lab)):
        print(f"  {name:18s} train {r['train_s']:.2f} s ({work / r['train_s']:.1f} GFLOP/s), "
              f"compile {r['compile_s']:.2f} s, best final loss {r['final_loss']:.3f}")
    print(f"  ratio hand-written / jaxlab (train): {hand['train_s'] / lab['train_s']:.2f}")


if __name__ == "__main__":
    main()
