"""The MLP: a Flax NNX module, used through its functional split, that can stand for many sizes.

One compiled program trains variants of different **width** and **depth**. Every hidden
layer is allocated at the largest width ``W`` of the sweep and there are ``D`` hidden layers
(the largest depth). A variant of widths ``(w_1, ..., w_d)`` is embedded exactly:

* unit ``j`` of hidden layer ``l`` is multiplied by ``mask[l, j] = j < w_l`` after its
  activation (and batch norm), so padded units output exactly 0 whatever the activation
  (``sigmoid(0) = 0.5`` would otherwise leak);
* padded kernel rows/columns and biases start at 0 and receive exactly zero gradient (their
  input or their output is masked), so every optimizer in :mod:`jaxlab.optim` leaves them at 0
  (momentum, Adam, RMSprop and Adagrad all map a zero gradient to a zero update; weight decay
  maps 0 to 0) and global-norm clipping sees the true norm;
* hidden layers ``l >= d`` are skipped: ``h_l = h_{l-1}``; the output layer reads the last
  active layer.

The network computed is therefore the small network itself, up to the order in which float
additions of exact zeros happen (tests check 1e-9 relative agreement in float64).

Initialisation uses each variant's *own* fan-in and fan-out (Keras' definitions of He,
Glorot and LeCun initialisers), and draws element ``(i, j)`` of a kernel from a counter that
depends only on the seed, the layer, ``i`` and ``j``, so a variant's initial weights do not
depend on what else is in its sweep.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax.extend.random import threefry_2x32

from jaxlab.errors import unknown

Array = jax.Array
Params = Any  # an ``nnx.State`` of ``nnx.Param`` leaves

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, negative_slope=0.2),  # Keras' default slope
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "swish": jax.nn.swish,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda x: x,
}
BATCH_NORM = ("none", "before", "after")
KERNEL_INITS = (
    "he_uniform", "he_normal", "glorot_uniform", "glorot_normal", "lecun_uniform",
    "lecun_normal", "normal", "uniform", "zeros",
)
OUTPUT_LAYER = 1000  # counter index of the output layer, independent of the depth


@dataclasses.dataclass(frozen=True)
class Arch:
    """Static shape of a group's padded network.

    Attributes:
      n_in: input features.
      width: padded width ``W`` of every hidden layer.
      depth: padded number of hidden layers ``D``.
      n_out: output units.
      activation: hidden activation name.
      batch_norm: ``"none"``, ``"before"`` or ``"after"`` the activation.
    """

    n_in: int
    width: int
    depth: int
    n_out: int
    activation: str = "relu"
    batch_norm: str = "none"


class MLP(nnx.Module):
    """Dense, [BatchNorm], activation, [BatchNorm], unit mask, [Dropout]; ``D`` times; Dense.

    Call with per-variant masks (see module doc). Batch norm follows Keras
    (``momentum=0.99``, ``epsilon=1e-3``) and, in training, computes its statistics over the
    valid samples of the batch only (``sample_mask``).
    """

    def __init__(self, arch: Arch, *, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.arch = arch
        sizes = [arch.n_in] + [arch.width] * arch.depth
        self.hidden = nnx.List(
            [nnx.Linear(sizes[i], arch.width, param_dtype=param_dtype, rngs=rngs)
             for i in range(arch.depth)]
        )
        self.norms = nnx.List(
            [nnx.BatchNorm(arch.width, momentum=0.99, epsilon=1e-3, param_dtype=param_dtype,
                           rngs=rngs) for _ in range(arch.depth)]
            if arch.batch_norm != "none" else []
        )
        self.out = nnx.Linear(arch.width, arch.n_out, param_dtype=param_dtype, rngs=rngs)

    def __call__(
        self,
        x: Array,
        unit_mask: Array,
        *,
        train: bool,
        sample_mask: Array | None = None,
        keep: Array | None = None,
        trace: list | None = None,
    ) -> Array:
        """Forward pass.

        Args:
          x: inputs ``(b, n_in)``.
          unit_mask: ``(D, W)`` 0/1, which units of each hidden layer exist; a row of zeros
            marks a skipped layer.
          train: batch norm uses batch statistics (and updates its running averages).
          sample_mask: ``(b,)`` bool, valid samples (batch-norm statistics).
          keep: ``(D, b, W)`` dropout multipliers (0 or ``1/(1-rate)``), or ``None``.
          trace: if a list, the hidden activations ``(b, W)`` are appended to it.

        Returns:
          raw outputs ``(b, n_out)``.
        """
        act = ACTIVATIONS[self.arch.activation]
        bn_mask = None
        if sample_mask is not None and self.arch.batch_norm != "none":
            bn_mask = jnp.broadcast_to(sample_mask[:, None], (x.shape[0], self.arch.width))
        h = x
        for l, layer in enumerate(self.hidden):
            z = layer(h)
            if self.arch.batch_norm == "before":
                z = self.norms[l](z, use_running_average=not train, mask=bn_mask)
            a = act(z)
            if self.arch.batch_norm == "after":
                a = self.norms[l](a, use_running_average=not train, mask=bn_mask)
            a = a * unit_mask[l]
            if keep is not None:
                a = a * keep[l]
            if trace is not None:
                trace.append(a)
            # Layer 0 always exists; deeper layers are skipped when their mask row is empty.
            h = a if l == 0 else jnp.where(unit_mask[l, 0] > 0, a, h)
        return self.out(h)


class VariantMLP(MLP):
    """One variant's trained MLP as a plain NNX module: ``model(x)`` gives its raw outputs.

    The layers are those of :class:`MLP` at the variant's own depth and widest layer; a
    narrower layer's missing units are masked as in training (``widths`` is static), so
    ``model(x)`` is the variant's network exactly, ready for ``nnx.state``, ``nnx.jit`` or
    further training. Built by :meth:`jaxlab.results.Result.module`.

    Example:
      >>> model = result.module(best)               # doctest: +SKIP
      >>> logits = model(x_val)                     # (b, n_out), inference mode
    """

    def __init__(self, arch: Arch, widths: tuple[int, ...], *, param_dtype=jnp.float32,
                 rngs: nnx.Rngs):
        super().__init__(arch, param_dtype=param_dtype, rngs=rngs)
        self.widths = tuple(int(w) for w in widths)  # (depth,) static: part of the graph

    def __call__(self, x: Array, unit_mask: Array | None = None, *, train: bool = False,
                 **kwargs) -> Array:
        """Raw outputs ``(b, n_out)`` of inputs ``(b, n_in)``; ``train=True``: batch norm
        uses (and updates) batch statistics. Other keywords as :meth:`MLP.__call__`."""
        if unit_mask is None:
            unit_mask = jnp.arange(self.arch.width)[None, :] < jnp.array(self.widths)[:, None]
        return super().__call__(x, unit_mask, train=train, **kwargs)


@functools.cache
def abstract(arch: Arch, dtype=jnp.float32):
    """``(graphdef, params, batch_stats)`` of the padded network, with shape-only leaves."""
    model = nnx.eval_shape(lambda: MLP(arch, param_dtype=dtype, rngs=nnx.Rngs(0)))
    return nnx.split(model, nnx.Param, nnx.BatchStat)


def unit_mask(arch: Arch, widths: Array, depth: Array, dtype=jnp.float32) -> Array:
    """``(D, W)`` mask of the units a variant has. ``widths``: ``(D,)`` int, ``depth``: int."""
    layer_on = jnp.arange(arch.depth) < depth
    unit_on = jnp.arange(arch.width)[None, :] < widths[:, None]
    return (layer_on[:, None] & unit_on).astype(dtype)


def _uniforms(key: Array, shapes: list[tuple[int, int, int]]) -> list[Array]:
    """Uniform ``[0, 1)`` float32 draws for several kernels in one Threefry call.

    Element ``(i, j)`` of the kernel of layer ``l`` is ``threefry(key, (l * 2**16 + i, j))``:
    it depends on the seed, the layer and its own position only, so a padded kernel holds the
    small kernel's numbers in its top-left corner. (One Threefry instance keeps compilation
    short.)

    Args:
      key: ``(2,)`` uint32 raw key.
      shapes: ``(layer_id, rows, cols)`` per kernel.
    """
    his, los = [], []
    for layer, rows, cols in shapes:
        i = jnp.arange(rows, dtype=jnp.uint32)[:, None] + jnp.uint32(layer << 16)
        j = jnp.arange(cols, dtype=jnp.uint32)[None, :]
        his.append(jnp.broadcast_to(i, (rows, cols)).ravel())
        los.append(jnp.broadcast_to(j, (rows, cols)).ravel())
    hi, lo = jnp.concatenate(his), jnp.concatenate(los)
    bits = threefry_2x32(key, jnp.concatenate([hi, lo]))[: hi.size]
    floats = jax.lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1
    out, start = [], 0
    for _, rows, cols in shapes:
        out.append(floats[start: start + rows * cols].reshape(rows, cols))
        start += rows * cols
    return out


_TRUNC = 0.9544997361036416  # P(|z| < 2) for a standard normal


def _kernel(kind: str, u: Array, fan_in, fan_out, scale, dtype) -> Array:
    """A kernel from uniforms ``u`` with a variant's own (traced) fan-in and fan-out;
    ``scale`` is a scalar or ``(2,)`` ``(scale, shift)`` (kernel = shift + scale * draw)."""
    if kind == "zeros":
        return jnp.zeros(u.shape, dtype)
    scale = jnp.asarray(scale, dtype)
    if scale.ndim:  # a shift (uniform bounds) travels with the scale, as per-variant data
        return _kernel(kind, u, fan_in, fan_out, scale[0], dtype) + scale[1]
    u = jnp.clip(u.astype(dtype), 1e-7, 1 - 1e-7)
    fan_in = jnp.maximum(fan_in, 1).astype(dtype)
    fan_out = jnp.maximum(fan_out, 1).astype(dtype)
    if kind == "uniform":  # init_scale is the limit itself
        return (2 * u - 1) * scale
    if kind == "normal":  # init_scale is the std itself
        return jax.scipy.special.ndtri(u) * scale
    family, _, dist = kind.partition("_")
    fan = {"he": fan_in / 2, "glorot": (fan_in + fan_out) / 2, "lecun": fan_in}[family]
    var = scale / fan  # Keras VarianceScaling(scale=1 or 2, mode=fan_in/fan_avg)
    if dist == "uniform":
        return (2 * u - 1) * jnp.sqrt(3 * var)
    # Keras draws scaled normals truncated at two standard deviations.
    z = jax.scipy.special.ndtri(0.5 + (u - 0.5) * _TRUNC)
    return z * jnp.sqrt(var) / 0.87962566103423978


def init_params(
    arch: Arch,
    key: Array,
    widths: Array,
    depth: Array,
    scale: Array,
    *,
    kernel_init: str,
    output_init: str | None = None,
    output_scale: Array | None = None,
    dtype=jnp.float32,
) -> dict:
    """Initial parameters of one variant as a pure dict (``nnx.to_pure_dict`` layout).

    Args:
      arch: the padded architecture.
      key: the variant's init key, ``(2,)`` uint32.
      widths: ``(D,)`` hidden widths (entries past ``depth`` are ignored).
      depth: number of hidden layers of the variant.
      scale: multiplier of the initialiser's variance (``normal``/``uniform``: std / limit),
        or ``(2,)`` ``(scale, shift)``: a ``uniform`` kernel U(lo, hi) is scale ``(hi - lo)
        / 2``, shift ``(hi + lo) / 2``.
      kernel_init: initialiser name, see :data:`KERNEL_INITS`.
      output_init, output_scale: the output layer's initialiser and scale (default: the
        hidden layers').

    Returns:
      ``{"hidden": {l: {"kernel", "bias"}}, "norms": {l: {"scale", "bias"}}, "out": {...}}``.
    """
    if kernel_init not in KERNEL_INITS:
        raise unknown("model.kernel_init", kernel_init, KERNEL_INITS)
    mask = unit_mask(arch, widths, depth, dtype)
    fan_ins = jnp.concatenate([jnp.array([arch.n_in]), widths[:-1]])
    rows = [arch.n_in] + [arch.width] * (arch.depth - 1)
    shapes = [(l, rows[l], arch.width) for l in range(arch.depth)]
    shapes.append((OUTPUT_LAYER, arch.width, arch.n_out))
    u = _uniforms(key, shapes)
    hidden, norms = {}, {}
    for l in range(arch.depth):
        k = _kernel(kernel_init, u[l], fan_ins[l], widths[l], scale, dtype)
        in_mask = jnp.ones((rows[l],), dtype) if l == 0 else mask[l - 1]
        hidden[l] = {"kernel": k * in_mask[:, None] * mask[l][None, :],
                     "bias": jnp.zeros((arch.width,), dtype)}
        if arch.batch_norm != "none":
            norms[l] = {"scale": mask[l], "bias": jnp.zeros((arch.width,), dtype)}
    last = jnp.clip(depth - 1, 0, arch.depth - 1)
    k = _kernel(output_init or kernel_init, u[-1], widths[last], arch.n_out,
                scale if output_scale is None else output_scale, dtype)
    params = {"hidden": hidden, "out": {"kernel": k * mask[last][:, None],
                                         "bias": jnp.zeros((arch.n_out,), dtype)}}
    if norms:
        params["norms"] = norms
    return params


def init_batch_stats(arch: Arch, dtype=jnp.float32) -> dict:
    """Batch-norm running statistics (Keras: mean 0, variance 1), pure-dict layout."""
    if arch.batch_norm == "none":
        return {}
    return {"norms": {l: {"mean": jnp.zeros((arch.width,), dtype),
                          "var": jnp.ones((arch.width,), dtype)} for l in range(arch.depth)}}


def to_state(abstract_state: nnx.State, pure: dict) -> nnx.State:
    """An ``nnx.State`` with the structure of ``abstract_state`` and the arrays of ``pure``."""
    state = jax.tree.map(lambda x: x, abstract_state)
    nnx.replace_by_pure_dict(state, pure)
    return state


def apply(graphdef, params, batch_stats, x, mask, **kwargs):
    """Run the network functionally: ``(params, batch_stats, x) -> (outputs, new batch_stats)``."""
    model = nnx.merge(graphdef, params, batch_stats)
    out = model(x, mask, **kwargs)
    return out, nnx.state(model, nnx.BatchStat)


def slice_params(pure: dict, widths, depth: int, n_in: int) -> dict:
    """Cut a padded variant's pure-dict parameters down to its real widths and depth."""
    widths = [int(w) for w in widths[:depth]]
    out = {"hidden": {}}
    for l in range(depth):
        rows = n_in if l == 0 else widths[l - 1]
        layer = pure["hidden"][l]
        out["hidden"][l] = {"kernel": layer["kernel"][:rows, : widths[l]],
                            "bias": layer["bias"][: widths[l]]}
    if "norms" in pure:
        out["norms"] = {l: {k: v[: widths[l]] for k, v in pure["norms"][l].items()}
                        for l in range(depth)}
    out["out"] = {"kernel": pure["out"]["kernel"][: widths[-1]], "bias": pure["out"]["bias"]}
    return out
