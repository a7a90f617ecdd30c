"""Successive halving inside a sweep: at every rung keep the best ``1/eta`` of the variants.

Set ``train.halving_every = k`` (a rung every ``k`` epochs), ``train.halving_eta`` (keep
``floor(n / eta)`` of the ``n`` variants still training, at least one) and
``train.halving_metric`` (default: ``val_loss`` with validation data, else ``loss``; the
direction is :func:`jaxlab.conventions.maximize`'s). At the end of epoch ``k``, ``2k``, ...
of a group, the variants still training are ranked by the metric of that epoch (NaN ranks
last, ties keep sweep order); the others stop there with status ``pruned``, keeping their
history and parameters up to the rung.

The runner then *compacts* the group: only the survivors go on, in a program compiled for
their (padded) number, so pruned variants cost nothing afterwards. Recompiling costs one
compilation per rung (a handful, ``log_eta V``), against a saving of ``1 - 1/eta`` of every
later epoch; keeping the large program with inactive variants would have saved nothing, since
a vmapped program computes its inactive rows anyway. Below 8 variants per device the
program is kept (padded with inactive copies): a smaller one would save next to nothing and
cost a compilation. The layout is a function of the survivors only (not of timings), so a
halving sweep is reproducible and resumes exactly.

Ranking happens per group: groups are separate programs run one after the other.

Example::

  spec = jl.Sweep(data=jl.DataConfig("blobs"), train=jl.TrainConfig(
      epochs=12, halving_every=3, halving_eta=2),
      grid={"learning_rate": [0.3, 0.1, 0.03, 0.01], "batch_size": [8, 32, 128]})
  result = jl.run(spec)       # 12 -> 6 -> 3 -> 1 variants after epochs 3, 6, 9
  result.variants.status      # "pruned" for the 11 that stopped early
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Halving:
    """A group's halving schedule.

    Attributes:
      every: epochs per rung ``k`` (a rung after epochs ``k, 2k, ...``).
      eta: keep ``floor(n / eta)`` (at least 1) of the ``n`` variants at each rung.
      metric: the per-epoch record entry ranked.
      maximize: larger is better (:func:`jaxlab.conventions.maximize` of ``metric``).
    """

    every: int
    eta: float
    metric: str
    maximize: bool

    def is_rung(self, epoch: int) -> bool:
        """Whether the end of 0-based ``epoch`` is a rung."""
        return (epoch + 1) % self.every == 0

    def keep(self, n: int) -> int:
        return max(1, int(np.floor(n / self.eta + 1e-9)))

    def survivors(self, values: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``(V,)`` bool: the candidates kept at this rung.

        Args:
          values: ``(V,)`` the metric of this epoch.
          candidates: ``(V,)`` bool, the variants still training.
        """
        idx = np.flatnonzero(candidates)
        v = np.asarray(values, np.float64)[idx]
        score = np.where(np.isfinite(v), -v if self.maximize else v, np.inf)
        order = idx[np.argsort(score, kind="stable")]
        keep = np.zeros(len(values), bool)
        keep[order[: self.keep(len(idx))]] = True
        return keep


def schedule(n: int, eta: float, every: int, epochs: int) -> list[tuple[int, int]]:
    """``[(epochs_trained_by_this_many_variants, n_variants), ...]`` if nothing stops early:
    the compute of a halving sweep in variant-epochs is ``sum(e * n)``."""
    h = Halving(every, eta, "loss", False)
    out, start = [], 0
    for epoch in range(epochs):
        if h.is_rung(epoch) and epoch + 1 < epochs:
            out.append((epoch + 1 - start, n))
            start, n = epoch + 1, h.keep(n)
    out.append((epochs - start, n))
    return out
