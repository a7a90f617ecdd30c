"""The gradient noise scale of one variant from gradient norms at two batch sizes.

McCandlish et al. 2018 ("An Empirical Model of Large-Batch Training", appendix A.1): a mean
gradient over ``b`` samples has ``E |G_b|^2 = |G|^2 + tr(Sigma) / b``, so two batch sizes
``b_s < b_B`` give unbiased estimates of both terms::

    |G|^2     ~ (b_B |G_B|^2 - b_s |G_s|^2) / (b_B - b_s)
    tr(Sigma) ~ (|G_s|^2 - |G_B|^2) / (1 / b_s - 1 / b_B)

and the simple noise scale is ``B_simple = tr(Sigma) / |G|^2``, the ratio of the two
estimators' averages over many steps (each is far too noisy alone). jaxlab needs no extra
pass: at the last microstep of a batch ``G_s`` is that microbatch's gradient and ``G_B`` the
batch's accumulated one (so only programs that accumulate, batch > microbatch, measure it).

Sampling without replacement from ``N`` examples (an epoch is a permutation) makes the
expectations exact for ``tr(Sigma) N / (N - 1)`` and ``|G|^2 - tr(Sigma) / (N - 1)``, with
``Sigma`` the per-example gradients' covariance over the training set (divided by ``N``);
the factors are 1 as ``N`` grows (``tests/test_instruments.py`` checks them).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxlab.metrics import Average

Array = jax.Array
NAMES = ("gns_trace", "gns_g2")


def estimates(small_sq, big_sq, b_small, b_big) -> dict[str, Average]:
    """This step's two estimators (``tr(Sigma)`` and ``|G|^2``) as averages of one term;
    none (count 0) unless ``b_small < b_big``.

    Args:
      small_sq, big_sq: ``|G_s|^2`` and ``|G_B|^2``, squared norms of mean gradients.
      b_small, b_big: their sample counts.
    """
    dtype = small_sq.dtype
    b_s, b_b = b_small.astype(dtype), b_big.astype(dtype)
    ok = b_s < b_b
    safe = jnp.where(ok, b_b - b_s, 1)
    g2 = (b_b * big_sq - b_s * small_sq) / safe
    trace = (small_sq - big_sq) * b_s * b_b / safe  # / (1/b_s - 1/b_B)
    one = ok.astype(dtype)
    return {"gns_trace": Average(jnp.where(ok, trace, 0), one),
            "gns_g2": Average(jnp.where(ok, g2, 0), one)}


def record(sums: dict[str, Average]) -> dict[str, Array]:
    """The epoch's means of both estimators and their ratio ``noise_scale`` (NaN when the
    epoch had no step to measure)."""
    out = {k: jnp.where(sums[k].count > 0, sums[k].compute(), jnp.nan) for k in NAMES}
    out["noise_scale"] = out["gns_trace"] / out["gns_g2"]
    return out
