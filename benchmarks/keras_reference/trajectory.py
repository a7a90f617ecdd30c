"""Replays Keras' runs from ``keras_trajectory.py`` (same initial weights, same batch order)
in jaxlab and in two plain JAX/Optax loops, one per cross-entropy, and prints each one's
largest relative weight difference from Keras after 1 and 100 epochs::

    python benchmarks/keras_reference/trajectory.py /tmp/keras_traj.npz

``logits``: ``-sum(y * log_softmax(z))``, what jaxlab computes; ``keras``: Keras 3's
cross-entropy of the softmax probabilities, clipped to ``[1e-7, 1 - 1e-7]`` (zero gradient
for a sample whose true-class probability is below ``1e-7``).
"""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxlab as jl
from jaxlab.course import capacity_nodes

SEEDS, EPOCHS, BATCH = 10, (1, 100), 32


def cross_entropy(kind: str):
    """Per-batch mean cross-entropy of a one-hidden-layer ReLU net's logits."""
    def loss(p, x, t):
        z = jax.nn.relu(x @ p[0] + p[1]) @ p[2] + p[3]
        if kind == "logits":
            return jnp.mean(-jnp.sum(t * jax.nn.log_softmax(z), -1))
        q = jax.nn.softmax(z)
        q = jnp.clip(q / q.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
        return jnp.mean(-jnp.sum(t * jnp.log(q), -1))
    return loss


def plain(kind: str, p, x, t, epochs: int):
    """SGD(0.01, momentum 0.9), batches of 32 in order, the last one of 20 on its own."""
    tx = optax.sgd(0.01, momentum=0.9)

    @jax.jit
    def step(p, o, xb, tb):
        u, o = tx.update(jax.grad(cross_entropy(kind))(p, xb, tb), o, p)
        return optax.apply_updates(p, u), o

    o = tx.init(p)
    for _ in range(epochs):
        for b in range(0, len(x), BATCH):
            p, o = step(p, o, x[b:b + BATCH], t[b:b + BATCH])
    return p


def rel(mine, keras) -> float:
    return max(float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))
               for a, b in zip(mine, keras, strict=True))


def main(path: str) -> None:
    k = np.load(path)
    init = [[k[f"s{s}_init_{i}"] for i in range(4)] for s in range(SEEDS)]
    base = capacity_nodes.spec(quick=False)
    ds = jl.load(base.data)
    x, t = jnp.asarray(ds.x_train), jnp.asarray(np.eye(20, dtype=np.float32)[ds.y_train])
    stacked = {"hidden": {0: {"kernel": np.stack([w[0] for w in init]),
                              "bias": np.stack([w[1] for w in init])}},
               "out": {"kernel": np.stack([w[2] for w in init]),
                       "bias": np.stack([w[3] for w in init])}}
    for epochs in EPOCHS:
        spec = dataclasses.replace(
            base, grid={"width": [6], "seed": list(range(SEEDS))},
            train=dataclasses.replace(base.train, epochs=epochs, shuffle=False))
        result = jl.run(spec, init_params=stacked)
        for s in range(SEEDS):
            want = [k[f"s{s}_e{epochs}_{i}"] for i in range(4)]
            q = result.params(s)
            got = {"jaxlab": [q["hidden"][0]["kernel"], q["hidden"][0]["bias"],
                              q["out"]["kernel"], q["out"]["bias"]]}
            for kind in ("logits", "keras"):
                got[kind] = plain(kind, [jnp.asarray(w) for w in init[s]], x, t, epochs)
            test = result.evaluate(ds.x_val, ds.y_val, s)["accuracy"]
            print(f"epochs {epochs:3d} seed {s}: relative difference from Keras: "
                  + ", ".join(f"{n} {rel(w, want):.1e}" for n, w in got.items())
                  + f"; test accuracy jaxlab {test:.3f}, Keras {k[f's{s}_e{epochs}_acc'][1]:.3f}",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "keras_traj.npz")
