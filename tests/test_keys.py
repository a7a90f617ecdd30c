"""jaxlab.keys: the host-side threefry gives JAX's own keys and permutations, bit for bit."""

import jax
import numpy as np
import pytest

import jaxlab as jl
from jaxlab import keys, planning
from tests import procs


def test_fold_in_equals_jax_random_fold_in():
    rng = np.random.default_rng(0)
    seeds = np.concatenate([[0, 1, 2, 2**31, 2**32 - 1], rng.integers(0, 2**32, 11)])
    for stream in (0, 1, 2, 7, 2**32 - 1):
        mine = keys.fold_in(seeds, stream)
        ref = np.stack([np.asarray(jax.random.fold_in(jax.random.PRNGKey(int(s)), stream))
                        for s in seeds])
        np.testing.assert_array_equal(mine, ref)
    assert mine.dtype == np.uint32 and mine.shape == (len(seeds), 2)


def test_fold_in_broadcasts_streams_over_a_seed_table():
    seeds = np.array([[3, 4], [5, 6]], np.uint32)
    out = keys.fold_in(seeds, np.array([[0], [1]], np.uint32))
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[1, 0], keys.fold_in(np.array([5]), 1)[0])


@pytest.mark.parametrize("n", [1, 2, 7, 500, 1625, 1626, 12_000])  # 1626: two sorting rounds
def test_permutations_equal_jax_random_permutation(n):
    raw = np.stack([np.asarray(jax.random.key_data(jax.random.PRNGKey(s))) for s in (0, 7)]
                   + [np.array([0xFFFFFFFF, 0x12345678], np.uint32)])
    for epoch in (0, 1, 199, 2**31 + 5):
        mine = keys.permutations(raw, epoch, n)
        ref = np.stack([np.asarray(jax.random.permutation(
            jax.random.fold_in(k, np.uint32(epoch)), n)) for k in raw])
        assert mine.dtype == ref.dtype
        np.testing.assert_array_equal(mine, ref)


def test_orders_from_the_host_train_as_orders_drawn_in_the_program(monkeypatch):
    """A small group's sample orders come from the host (no sort in the program): the same
    sweep, bit for bit, as with the orders drawn in the program."""
    spec = jl.Sweep(data=jl.DataConfig("blobs", options={"n_samples": 120}, train_size=80),
                    model=jl.ModelConfig(hidden=(8,)),
                    train=jl.TrainConfig(epochs=5, metrics=("accuracy",)),
                    grid={"seed": [0, 1, 2], "batch_size": [8, 24]})
    assert jl.plan(spec).groups[0].program.host_order
    host = jl.run(spec, compilation_cache=False)
    monkeypatch.setattr(planning, "HOST_ORDERS", 0)
    assert not jl.plan(spec).groups[0].program.host_order
    procs.assert_same(host, jl.run(spec, compilation_cache=False))
