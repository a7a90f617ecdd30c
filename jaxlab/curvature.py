"""Sharpness: the top eigenvalue of one variant's training-loss Hessian, by Lanczos.

Pure functions of ONE variant (no ``jit``, ``vmap`` or ``scan``; :mod:`jaxlab.compiled`
walks the Lanczos iterations and the chunks of the data). The loss is the training loss on
the first ``examples`` training samples, in inference mode (no dropout, batch norm's running
statistics), plus the L2 penalty where the program has one::

    L(p) = sum_i loss_i(p) / n + l2 * penalty(p)

A Hessian-vector product is ``jax.jvp`` of ``jax.grad`` (forward over reverse: about two
backward passes, never the dense Hessian). ``k`` Lanczos steps from a fixed random start give
a ``k x k`` tridiagonal matrix whose largest eigenvalue approaches the Hessian's largest
(algebraically, not in magnitude) from below, much faster than power iteration; without
reorthogonalization a converged eigenvalue may reappear as a copy, which leaves the largest
one unchanged (Cohen et al. 2021 measure sharpness the same way).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Sharpness:
    """When and how a program measures sharpness (static).

    Attributes:
      every: measure after every ``every``-th epoch (epochs ``every - 1, 2 every - 1, ...``,
        0-based); the other epochs record NaN.
      iters: Lanczos steps (Hessian-vector products) per measurement.
      examples: the first ``examples`` training samples define the loss.
    """

    every: int
    iters: int
    examples: int

    def due(self, epoch) -> Array:
        """Whether the (traced) 0-based ``epoch`` measures."""
        return (epoch + 1) % self.every == 0


def _dot(a, b) -> Array:
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b),
                                              strict=True))


def _scale(a, s):
    return jax.tree.map(lambda x: x * s, a)


def hvp(prog, st, v, x, y, valid, n, first) -> object:
    """``H v`` of the chunk's share of the loss: ``x`` ``(c, n_in)`` where ``valid`` ``(c,)``;
    ``n`` the number of samples the loss averages; ``first`` adds the L2 penalty's share
    (once per product). ``v`` and the result are pytrees like ``st.params``."""
    dtype = prog.float

    def loss(params):
        logits, _ = prog.net.apply(params, st.model_state, x, st.shape, train=False)
        per = jnp.where(valid, prog.objective.per_sample_loss(logits, y), 0.0)
        total = jnp.sum(per) / jnp.asarray(n, dtype)
        if prog.l2:
            total += jnp.where(first, st.hp["l2"] * prog.net.penalty(params), 0.0)
        return total

    return jax.jvp(jax.grad(loss), (st.params,), (v,))[1]


def start(st) -> object:
    """The unit start vector: a fixed normal draw shaped like ``st.params``."""
    leaves, tree = jax.tree.flatten(st.params)
    keys = jax.random.split(jax.random.PRNGKey(0), len(leaves))
    v = [jax.random.normal(k, a.shape, a.dtype) for k, a in zip(keys, leaves, strict=True)]
    v = jax.tree.unflatten(tree, v)
    return _scale(v, 1 / jnp.sqrt(_dot(v, v)))


def lanczos_step(v_prev, v, beta_prev, hv) -> tuple[tuple, tuple[Array, Array]]:
    """One Lanczos step from ``hv = H v``: ``((v, v_next, beta), (alpha, beta))``.

    A zero ``beta`` (the Krylov space is exhausted) ends the walk: the next vectors are 0.
    """
    w = jax.tree.map(lambda h, p: h - beta_prev * p, hv, v_prev)
    alpha = _dot(w, v)
    w = jax.tree.map(lambda a, b: a - alpha * b, w, v)
    beta = jnp.sqrt(_dot(w, w))
    v_next = _scale(w, jnp.where(beta > 0, 1 / jnp.where(beta > 0, beta, 1), 0.0))
    return (v, v_next, beta), (alpha, beta)


def top_eigenvalue(alphas, betas) -> Array:
    """The largest eigenvalue of the tridiagonal matrix ``diag(alphas)``, off-diagonal
    ``betas[:-1]`` (``(k,)`` each)."""
    t = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    return jnp.linalg.eigvalsh(t)[-1]
