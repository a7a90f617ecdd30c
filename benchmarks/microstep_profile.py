"""Where a training step's time goes: jaxlab's epoch program against hand-written vmapped
steps on the W2 shape (784-256-256-10 MLP, Adam, batch 128, 32 variants), in one process.

Each row times one compiled epoch of STEPS steps (second-best of 6 calls) and reports ms per
step and GFLOP/s (the W2 count: no input gradient for layer 1). The hand-written rows add, one
at a time, what jaxlab's microstep must do (check finiteness, keep the last finite state),
so the difference between rows is the cost of each part.

    python benchmarks/microstep_profile.py [--steps 30] [--variants 32] [--json out.json]

On an accelerator, ``--variants 1024`` is the 1,024-variant MNIST-MLP sweep of the GPU
suite; the JSON holds ms/step and GFLOP/s per row (the suite divides by the matmul peak).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxlab as jl
from jaxlab import compiled, distributed
from jaxlab import variants as var

SIZES = [784, 256, 256, 10]


def per_step_gflop(batch: int, n: int) -> float:
    fwd = sum(2 * a * b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True))
    return (3 * fwd - 2 * SIZES[0] * SIZES[1]) * batch * n / 1e9


def timed(fn, *args, reps: int = 6) -> float:
    out = fn(*args)
    jax.block_until_ready(out)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn(*args)
        jax.block_until_ready(out)
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[1]


def hand_rows(x, y, steps: int, batch: int, n: int) -> dict[str, float]:
    key = jax.random.PRNGKey(0)

    def init(k):
        ks = jax.random.split(k, 3)
        return [{"w": jax.random.normal(kk, (a, b)) * 0.05, "b": jnp.zeros(b)}
                for kk, a, b in zip(ks, SIZES[:-1], SIZES[1:], strict=True)]

    def fwd(p, xb):
        for layer in p[:-1]:
            xb = jax.nn.relu(xb @ layer["w"] + layer["b"])
        return xb @ p[-1]["w"] + p[-1]["b"]

    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    params = jax.vmap(init)(jax.random.split(key, n))
    opt = jax.vmap(tx.init)(params)

    def grads(p, xb, yb):
        def loss(p):
            per = optax.softmax_cross_entropy_with_integer_labels(fwd(p, xb), yb)
            return per.mean(), per
        (_, per), g = jax.value_and_grad(loss, has_aux=True)(p)
        return per, g

    def plain(p, o, xb, yb):
        _, g = grads(p, xb, yb)
        u, o = tx.update(g, o, p)
        return optax.apply_updates(p, u), o

    def select(ok, new, old):
        return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)

    def checked_updates(p, o, xb, yb):  # jaxlab before: loss and update norms, select all
        per, g = grads(p, xb, yb)
        u, o2 = tx.update(g, o, p)
        ok = jnp.isfinite(per.sum()) & jnp.isfinite(optax.tree.norm(u))
        _ = optax.tree.norm(g)
        return select(ok, optax.apply_updates(p, u), p), select(ok, o2, o)

    def checked_grads(p, o, xb, yb):  # jaxlab after: loss and gradient norm, select all
        per, g = grads(p, xb, yb)
        ok = jnp.isfinite(per.sum()) & jnp.isfinite(optax.tree.norm(g))
        u, o2 = tx.update(g, o, p)
        return select(ok, optax.apply_updates(p, u), p), select(ok, o2, o)

    rows = {}
    for name, step_one in [("hand: plain vmapped Adam step", plain),
                           ("hand + update-norm check + selects", checked_updates),
                           ("hand + gradient-norm check + selects", checked_grads)]:
        @jax.jit
        def epoch(p, o, k, step_one=step_one):
            idx = jax.vmap(lambda kk: jax.random.permutation(kk, len(x))[: steps * batch]
                           .reshape(steps, batch))(jax.random.split(k, n)).swapaxes(0, 1)

            def body(c, i):
                return jax.vmap(step_one)(*c, x[i], y[i]), None

            return jax.lax.scan(body, (p, o), idx)[0]

        rows[name] = timed(epoch, params, opt, key) / steps
    return rows


def jaxlab_row(x, y, steps: int, batch: int, n: int) -> float:
    ds = jl.from_arrays(np.asarray(x[: steps * batch]), np.asarray(y[: steps * batch]),
                        task="classification")
    spec = jl.Sweep(
        model=jl.ModelConfig(hidden=tuple(SIZES[1:-1]), activation="relu"),
        train=jl.TrainConfig(optimizer="adam", batch_size=batch, epochs=1,
                             loss="sparse_categorical_crossentropy", metrics=("accuracy",)),
        grid={"learning_rate": list(np.logspace(-4, -2, n))})
    g = jl.plan(spec, dataset=ds).groups[0]
    state = var.init_rows(g.program, g.variants)
    mesh = distributed.variant_mesh()
    data = distributed.replicate(jax.tree.map(np.asarray, var.group_data(g)), mesh)
    program = compiled.epoch_program(g.program, mesh)
    state = distributed.shard(state, mesh)
    fn = program.lower(state, data, np.int32(0), np.int32(1), None).compile()

    def call(st):
        return fn(st, data, np.int32(0), np.int32(1), None)

    # The program donates its state: give every call its own copy.
    copies = [jax.tree.map(jnp.copy, state) for _ in range(7)]
    it = iter(copies)
    return timed(lambda: call(next(it))) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--variants", type=int, default=32)
    ap.add_argument("--json", help="also write the rows to this file")
    a = ap.parse_args()
    batch = 128
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(12_000, 784)).astype(np.float32))
    y = jnp.asarray(rng.integers(0, 10, 12_000))
    gf = per_step_gflop(batch, a.variants)
    rows = hand_rows(x, y, a.steps, batch, a.variants)
    rows["jaxlab epoch program (no validation)"] = jaxlab_row(x, y, a.steps, batch, a.variants)
    base = rows["hand: plain vmapped Adam step"]
    for name, s in rows.items():
        print(f"{name:42s} {s * 1e3:7.2f} ms/step  {gf / s:6.1f} GFLOP/s  x{s / base:.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"variants": a.variants, "steps": a.steps, "backend": jax.default_backend(),
                       "rows": [{"name": k, "ms_per_step": v * 1e3, "gflops": gf / v,
                                 "ratio_to_plain": v / base} for k, v in rows.items()]},
                      f, indent=1)


if __name__ == "__main__":
    main()
