"""Does Keras' clipped cross-entropy change how often the book's model gets stuck?

A plain JAX/Optax loop of the book's code (he_uniform hidden, glorot_uniform output, SGD
0.01 momentum 0.9, batch 32 with the last 20 on their own, reshuffled every epoch, 100
epochs), vmapped over ``n`` seeds, trained twice from the same initial weights and batch
order: with the cross-entropy of the logits (jaxlab's) and with Keras 3's cross-entropy of
clipped softmax probabilities. Prints each one's mean test accuracy [95% t CI], the
fraction of seeds below 0.95 / 0.96, and the paired difference::

    python benchmarks/keras_reference/clip_vs_logits.py --width 7 --seeds 500
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax
from trajectory import cross_entropy  # this folder

from jaxlab.course import stats

BATCH, N_TRAIN = 32, 500


def blobs():
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=1000, centers=20, n_features=100, cluster_std=2, random_state=2)
    t = np.eye(20, dtype=np.float32)[y]
    return jnp.asarray(x, jnp.float32), jnp.asarray(t)


def make_train(kind: str, width: int, epochs: int):
    """``train(key) -> (train accuracy, test accuracy)`` of one seed."""
    x, t = blobs()
    xt, tt, xv, tv = x[:N_TRAIN], t[:N_TRAIN], x[N_TRAIN:], t[N_TRAIN:]
    loss, tx = cross_entropy(kind), optax.sgd(0.01, momentum=0.9)
    n_batches = -(-N_TRAIN // BATCH)

    def masked(p, xb, tb, m):  # the ragged last batch: its mean over its own samples
        return loss(p, xb, tb * m[:, None]) * BATCH / jnp.sum(m)

    def step(carry, i):
        p, o, order = carry
        idx = jax.lax.dynamic_slice(jnp.concatenate([order, order[:BATCH]]), (i * BATCH,),
                                    (BATCH,))
        m = (i * BATCH + jnp.arange(BATCH) < N_TRAIN).astype(jnp.float32)
        u, o = tx.update(jax.grad(masked)(p, xt[idx], tt[idx], m), o, p)
        return (optax.apply_updates(p, u), o, order), None

    def train(key):
        k1, k2, ks = jax.random.split(key, 3)
        l1, l2 = np.sqrt(6 / 100), np.sqrt(6 / (width + 20))
        p = [jax.random.uniform(k1, (100, width), minval=-l1, maxval=l1), jnp.zeros(width),
             jax.random.uniform(k2, (width, 20), minval=-l2, maxval=l2), jnp.zeros(20)]

        def epoch(carry, e):
            order = jax.random.permutation(jax.random.fold_in(ks, e), N_TRAIN)
            (p, o, _), _ = jax.lax.scan(step, (*carry, order), jnp.arange(n_batches))
            return (p, o), None

        (p, _), _ = jax.lax.scan(epoch, (p, tx.init(p)), jnp.arange(epochs))

        def acc(x, t):
            z = jax.nn.relu(x @ p[0] + p[1]) @ p[2] + p[3]
            return jnp.mean(jnp.argmax(z, -1) == jnp.argmax(t, -1))

        return acc(xt, tt), acc(xv, tv)

    return train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=7)
    p.add_argument("--seeds", type=int, default=200)
    p.add_argument("--epochs", type=int, default=100)
    args = p.parse_args()
    keys = jax.random.split(jax.random.PRNGKey(0), args.seeds)
    test = {}
    for kind in ("logits", "keras"):
        _, test[kind] = map(np.asarray, jax.jit(jax.vmap(
            make_train(kind, args.width, args.epochs)))(keys))
        a = test[kind]
        print(f"width {args.width} {kind:6s}: test accuracy {stats.mean_ci(a):.3f}; below 0.95 "
              f"{np.mean(a < 0.95):.2f}, below 0.96 {np.mean(a < 0.96):.2f} ({args.seeds} seeds)")
    print(f"width {args.width} keras - logits (paired): "
          f"{stats.mean_ci(test['keras'] - test['logits']):.4f}")


if __name__ == "__main__":
    main()
