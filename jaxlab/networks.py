"""A group's network behind one small protocol: the built-in MLP, or any Flax NNX module.

The engine sees a network only through these pure functions of one variant:

* ``init(key, shape, init) -> (params, model_state)``: pure dicts (``nnx.to_pure_dict``
  layout) of the variant's parameters and of its other variables (batch-norm statistics);
* ``apply(params, model_state, x, shape, noise, *, train, sample_mask) -> (outputs,
  model_state)``: raw outputs ``(b, n_out)`` of inputs ``(b, n_in)``;
* ``penalty(params)``: ``sum(kernel**2)`` over the kernels (Keras' L2 regularizer).

``shape`` holds the variant's per-variant structure as arrays (the MLP's widths and depth,
padded and masked; nothing for a user module) and ``noise`` its dropout randomness for
this microstep (:class:`Noise`).

:class:`MLPNet` is the built-in MLP (:mod:`jaxlab.models`), exact over width, depth and
per-sample dropout. :class:`ModuleNet` wraps a user's factory ``FACTORY(*, n_in, n_out,
rngs, **options)`` returning an ``nnx.Module`` with ``__call__(x, *, train)``. Its parameters
come from its own initializers with the variant's ``init_key`` (``nnx.Rngs(init_key)``) and
are cast to the program's dtype. Its random streams (``nnx.Dropout``...) are reseeded every
microstep from ``fold_in(fold_in(dropout_key, epoch), first sample index)``: per variant and
reproducible, but a microbatch smaller than the batch draws its masks in pieces (exact
against a reference only when ``train.microbatch`` equals the batch size). Its
``nnx.BatchNorm`` normalizes over each microbatch, padding included: see the warning
:func:`jaxlab.planning` gives.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlab import models
from jaxlab.conventions import float_dtype

Array = jax.Array

#: Keras' bias initializers the MLP offers (``model.bias_init``).
BIAS_INITS = ("zeros", "ones", "uniform", "normal")
BIAS_LAYER = 2000  # counter index of the first layer's biases (kernels use 0.. and 1000)


class Noise(NamedTuple):
    """A variant's dropout randomness for one microstep."""

    key: jax.Array  # (2,) uint32 the variant's dropout key
    epoch: jax.Array  # () int32
    idx: jax.Array  # (m,) int32 training-sample indices of the microbatch
    rate: jax.Array  # () the MLP's dropout rate


def _kernels_sq(params) -> Array:
    leaves = jax.tree_util.tree_leaves_with_path(params)
    total = [jnp.sum(a**2) for path, a in leaves
             if getattr(path[-1], "key", None) == "kernel"]
    return sum(total) if total else jnp.zeros(())


# -- the built-in MLP -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class MLPNet:
    """The built-in MLP of :mod:`jaxlab.models`, padded to the group's largest width/depth.

    Attributes:
      arch: the padded architecture; ``dtype``: float dtype name; ``dropout``: some variant
        uses dropout (per-sample masks, see :mod:`jaxlab.engine`).
      mup_base_width: ``None`` for the standard parametrization; else muP relative to this
        base width (:func:`mup_multipliers`, and the output layer's initial variance times
        ``base / fan_in``), each variant at its own widths.
    """

    arch: models.Arch
    dtype: str = "float32"
    dropout: bool = False
    mup_base_width: int | None = None

    @property
    def n_in(self) -> int:
        return self.arch.n_in

    def shape_of(self, widths: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The per-variant structure arrays of a variant with hidden ``widths``."""
        w = np.zeros(self.arch.depth, np.int32)
        w[: len(widths)] = widths
        return {"widths": w, "depth": np.int32(len(widths))}

    def init(self, key, shape, *, kernel_init: tuple[str, ...], scale) -> tuple[dict, dict]:
        """``kernel_init``: the (hidden, output[, bias]) initialisers; ``scale``: ``(2,)`` or
        ``(3,)`` theirs, or ``(2 or 3, 2)`` with each one's shift (``uniform`` bounds)."""
        dtype = float_dtype(self.dtype, jnp)
        hidden, output = kernel_init[:2]
        out_scale = scale[1]
        if self.mup_base_width is not None:  # muP: output variance 1/fan_in^2 (relative)
            out_scale = out_scale * self.mup_base_width / _last_width(shape)
        params = models.init_params(self.arch, key, shape["widths"], shape["depth"], scale[0],
                                    kernel_init=hidden, output_init=output,
                                    output_scale=out_scale, dtype=dtype)
        if len(kernel_init) > 2 and kernel_init[2] != "zeros":
            params = init_biases(self.arch, key, shape, params, kernel_init[2], scale[2], dtype)
        return params, models.init_batch_stats(self.arch, dtype)

    def lr_multipliers(self, params, shape, rule: str):
        """muP's per-tensor learning-rate multipliers of one variant (pytree like ``params``,
        () leaves), relative to ``mup_base_width``; see :func:`mup_multipliers`."""
        return mup_multipliers(params, shape, rule, self.mup_base_width,
                               float_dtype(self.dtype, jnp))

    def mask(self, shape) -> Array:
        return models.unit_mask(self.arch, shape["widths"], shape["depth"],
                                float_dtype(self.dtype, jnp))

    def _keep(self, noise: Noise) -> Array:
        """``(D, m, W)`` dropout multipliers: sample ``i``'s mask at layer ``l`` is
        ``bernoulli(fold_in(fold_in(fold_in(key, epoch), i), l), 1 - rate, (W,))``."""
        keep_prob = 1.0 - noise.rate

        def one(i):
            k = jax.random.fold_in(jax.random.fold_in(noise.key, noise.epoch), i)
            return jnp.stack([jax.random.bernoulli(jax.random.fold_in(k, l), keep_prob,
                                                   (self.arch.width,))
                              for l in range(self.arch.depth)])

        keep = jax.vmap(one, out_axes=1)(noise.idx)
        return keep.astype(float_dtype(self.dtype, jnp)) / keep_prob

    def apply(self, params, model_state, x, shape, noise: Noise | None = None, *, train: bool,
              sample_mask=None, trace=None):
        dtype = float_dtype(self.dtype, jnp)
        graphdef, abs_params, abs_stats = models.abstract(self.arch, dtype)
        keep = self._keep(noise) if (train and self.dropout and noise is not None) else None
        model = nnx.merge(graphdef, models.to_state(abs_params, params),
                          models.to_state(abs_stats, model_state))
        out = model(x, self.mask(shape), train=train, sample_mask=sample_mask, keep=keep,
                    trace=trace)
        return out, nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))

    def penalty(self, params) -> Array:
        return _kernels_sq(params)


def _last_width(shape) -> Array:
    """The variant's last hidden width (the output layer's fan-in), at least 1."""
    w = shape["widths"][jnp.clip(shape["depth"] - 1, 0, shape["widths"].shape[0] - 1)]
    return jnp.maximum(w, 1)


def mup_multipliers(params, shape, rule: str, base: int, dtype=jnp.float32):
    """Maximal Update Parametrization's learning-rate multipliers (Tensor Programs V, Table 3),
    relative to a base width ``base`` (all 1 at ``width == base``).

    With ``n_l`` the variant's own width of hidden layer ``l`` (its fan-out; the fan-in of
    layer ``l + 1``) and ``n_L`` the last one:

    =====================  ===================  =================  ==================
    rule                   input kernel,        hidden kernel      output kernel
                           biases, norms        (``l >= 1``)
    =====================  ===================  =================  ==================
    ``sgd``                ``n_l / base``       1                  ``base / n_L``
    ``adam``               1                    ``base / n_{l-1}`` ``base / n_L``
    =====================  ===================  =================  ==================

    (The output bias's fan-out is the number of outputs, fixed: 1 under both rules.) The
    initial variances are the standard fan-in ones except the output kernel's, times
    ``base / n_L`` (:class:`MLPNet`).

    Args:
      params: the variant's padded pure-dict parameters (structure only).
      shape: ``{"widths": (D,), "depth": ()}``.
      rule: ``"sgd"`` or ``"adam"`` (:data:`jaxlab.optim.MUP_RULES`).
      base: the base width.
    """
    widths = jnp.maximum(shape["widths"], 1).astype(dtype)
    base = jnp.asarray(base, dtype)
    last = _last_width(shape).astype(dtype)

    def one(path, p):
        names = [getattr(k, "key", getattr(k, "idx", None)) for k in path]
        kernel = names[-1] == "kernel"
        if names[0] == "out":
            return base / last if kernel else jnp.ones((), dtype)
        l = names[1]
        if kernel and l > 0:  # a hidden (width x width) kernel
            return jnp.ones((), dtype) if rule == "sgd" else base / widths[l - 1]
        # the input kernel, a hidden bias, a batch norm's scale or bias: fan-out n_l
        return widths[l] / base if rule == "sgd" else jnp.ones((), dtype)

    return jax.tree_util.tree_map_with_path(one, params)


def init_biases(arch: models.Arch, key, shape, params: dict, kind: str, scale, dtype) -> dict:
    """``params`` with every dense layer's biases (hidden and output) drawn from ``kind``
    (:data:`BIAS_INITS`): ``ones``, or ``shift + scale * draw`` with ``scale`` ``(2,)`` (Keras'
    RandomUniform(lo, hi): scale ``(hi - lo) / 2``, shift ``(hi + lo) / 2``; RandomNormal:
    the std). Padded units stay at 0; batch norm's own offsets are not touched."""
    if kind not in BIAS_INITS:
        raise ValueError(f"unknown bias initializer {kind!r}")
    mask = models.unit_mask(arch, shape["widths"], shape["depth"], dtype)  # (D, W)
    u = models._uniforms(key, [(BIAS_LAYER, arch.depth + 1, max(arch.width, arch.n_out))])[0]
    u = jnp.clip(u.astype(dtype), 1e-7, 1 - 1e-7)  # (D + 1, max(W, n_out)), row D: output
    s = jnp.asarray(scale, dtype)
    if kind == "ones":
        b = jnp.ones(u.shape, dtype)
    elif kind == "uniform":
        b = (2 * u - 1) * s[0] + s[1]
    else:
        b = jax.scipy.special.ndtri(u) * s[0] + s[1]
    hidden = {l: {**p, "bias": b[l, : arch.width] * mask[l]}
              for l, p in params["hidden"].items()}
    return {**params, "hidden": hidden,
            "out": {**params["out"], "bias": b[arch.depth, : arch.n_out]}}


# -- any Flax NNX module ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ModuleNet:
    """A user's NNX module factory, called as ``factory(n_in=, n_out=, rngs=, **options)``.

    Attributes:
      factory: the callable; ``options``: its keyword arguments as sorted ``(name, value)``
        pairs (structure: hashable); ``n_in``, ``n_out``; ``dtype``: the program's float type.
    """

    factory: Callable[..., nnx.Module]
    options: tuple[tuple[str, Any], ...]
    n_in: int
    n_out: int
    dtype: str = "float32"

    def build(self, key) -> nnx.Module:
        """The module with its own initializers, seeded by ``key`` (a raw ``(2,)`` key)."""
        return self.factory(n_in=self.n_in, n_out=self.n_out, rngs=nnx.Rngs(key),
                            **_thaw(self.options))

    def shape_of(self, widths=None) -> dict:
        return {}

    def init(self, key, shape=None, **_) -> tuple[dict, dict]:
        _, params, _, rest = nnx.split(self.build(key), nnx.Param, nnx.RngState, ...)
        dtype = float_dtype(self.dtype, jnp)
        cast = functools.partial(_cast_float, dtype)
        return (jax.tree.map(cast, nnx.to_pure_dict(params)),
                jax.tree.map(cast, nnx.to_pure_dict(rest)))

    def apply(self, params, model_state, x, shape=None, noise: Noise | None = None, *,
              train: bool, sample_mask=None):
        del shape, sample_mask  # a user module sees its microbatch as it is
        graphdef, abs_params, abs_rngs, abs_rest = _abstract_module(self)
        key = (jnp.zeros((2,), jnp.uint32) if noise is None else
               jax.random.fold_in(jax.random.fold_in(noise.key, noise.epoch), noise.idx[0]))
        model = nnx.merge(graphdef, models.to_state(abs_params, params), _fresh_rngs(abs_rngs, key),
                          models.to_state(abs_rest, model_state))
        out = model(x, train=train)
        _, _, _, rest = nnx.split(model, nnx.Param, nnx.RngState, ...)
        return out, nnx.to_pure_dict(rest)

    def penalty(self, params) -> Array:
        return _kernels_sq(params)

    @property
    def batch_norm(self) -> bool:
        """The module keeps batch statistics (``nnx.BatchStat`` variables)."""
        model = nnx.eval_shape(lambda: self.build(jax.random.PRNGKey(0)))
        return bool(jax.tree.leaves(nnx.state(model, nnx.BatchStat)))


def _thaw(options):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in options}


def freeze_options(options) -> tuple[tuple[str, Any], ...]:
    """Hashable, sorted ``(name, value)`` pairs of a module's options (lists as tuples)."""
    def frozen(v):
        return tuple(frozen(x) for x in v) if isinstance(v, (list, tuple)) else v
    return tuple(sorted((k, frozen(v)) for k, v in dict(options).items()))


def _cast_float(dtype, a):
    a = jnp.asarray(a)
    return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a


@functools.cache
def _abstract_module(net: ModuleNet):
    """``(graphdef, params, rngs, rest)`` of the module, shape-only, params in ``net.dtype``."""
    model = nnx.eval_shape(lambda: net.build(jax.random.PRNGKey(0)))
    graphdef, params, rngs, rest = nnx.split(model, nnx.Param, nnx.RngState, ...)
    dtype = float_dtype(net.dtype, jnp)

    def cast(s):
        if jnp.issubdtype(s.dtype, jnp.floating):
            return jax.ShapeDtypeStruct(s.shape, dtype)
        return s

    return graphdef, jax.tree.map(cast, params), rngs, jax.tree.map(cast, rest)


def _fresh_rngs(abstract_rngs, key):
    """The module's random streams reseeded from ``key`` (counts at 0)."""
    leaves, treedef = jax.tree.flatten(abstract_rngs)
    out = []
    for i, leaf in enumerate(leaves):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            out.append(jax.random.wrap_key_data(jax.random.fold_in(key, i)))
        else:
            out.append(jnp.zeros(leaf.shape, leaf.dtype))
    return jax.tree.unflatten(treedef, out)


Net = MLPNet | ModuleNet
