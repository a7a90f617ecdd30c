"""jaxlab.keys: the host-side threefry gives JAX's own keys, bit for bit."""

import jax
import numpy as np

from jaxlab import keys


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
