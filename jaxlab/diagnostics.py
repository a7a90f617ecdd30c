"""Per-layer health of the built-in MLP, recorded every epoch when ``train.diagnostics``.

Per hidden layer ``l`` (1-based) and the output layer ``out``: the mean gradient norm of its
kernel over the epoch's updates (``grad_norm_{l}``), the kernel's Frobenius norm
(``weight_norm_{l}``), the fraction of dead units (``dead_{l}``: activation 0 on every probe
sample) and of saturated activations (``saturated_{l}``: a sigmoid/tanh slope below
:data:`SATURATION` of its maximum); ``dead_fraction`` and ``saturated_fraction`` over all
hidden units. NaN for layers a variant lacks.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxlab.metrics import Average
from jaxlab.networks import MLPNet

SATURATION = 0.05  # a unit is saturated where its activation's slope is < 5% of the maximum
PROBE = 1024  # training samples the diagnostics look at


def layer_names(net: MLPNet) -> list[str]:
    return [str(l + 1) for l in range(net.arch.depth)] + ["out"]


def _kernels(net: MLPNet, params) -> list:
    return [params["hidden"][l]["kernel"] for l in range(net.arch.depth)] + [
        params["out"]["kernel"]]


def grad_norms(net: MLPNet, grads) -> dict[str, Average]:
    """One update's per-layer gradient norms, to merge into the epoch's sums."""
    one = jnp.ones((), grads["out"]["kernel"].dtype)
    return {f"grad_norm_{name}": Average(jnp.sqrt(jnp.sum(k**2)), one)
            for name, k in zip(layer_names(net), _kernels(net, grads), strict=True)}


def epoch_record(net: MLPNet, st, probe) -> dict:
    """The epoch's diagnostics of one variant (``probe``: ``(b, n_in)`` training inputs)."""
    out = {}
    active_layer = jnp.arange(net.arch.depth + 1) < st.shape["depth"]
    active_layer = active_layer.at[-1].set(True)
    for i, name in enumerate(layer_names(net)):
        g = st.sums[f"grad_norm_{name}"].compute()
        out[f"grad_norm_{name}"] = jnp.where(active_layer[i], g, jnp.nan)
    out.update(diagnose(net, st, probe))
    return out


def diagnose(net: MLPNet, st, x) -> dict:
    """Weight norms and dead/saturated units of one variant on ``x``, inference mode."""
    mask = net.mask(st.shape)
    trace: list = []
    net.apply(st.params, st.model_state, x, st.shape, train=False, trace=trace)
    out = {f"weight_norm_{name}": jnp.sqrt(jnp.sum(k**2))
           for name, k in zip(layer_names(net), _kernels(net, st.params), strict=True)}
    act = net.arch.activation
    dead_n = sat_n = units = 0.0
    for l, a in enumerate(trace):
        real = mask[l] > 0
        n_units = jnp.sum(real)
        dead = jnp.sum(real & jnp.all(a == 0, axis=0))
        if act == "sigmoid":
            slope = a * (1 - a) / 0.25
        elif act == "tanh":
            slope = 1 - a**2
        else:
            slope = jnp.ones_like(a)
        sat = jnp.sum(jnp.where(real, jnp.mean(slope < SATURATION, axis=0), 0.0))
        exists = n_units > 0
        out[f"weight_norm_{l + 1}"] = jnp.where(exists, out[f"weight_norm_{l + 1}"], jnp.nan)
        out[f"dead_{l + 1}"] = jnp.where(exists, dead / jnp.maximum(n_units, 1), jnp.nan)
        out[f"saturated_{l + 1}"] = jnp.where(exists, sat / jnp.maximum(n_units, 1), jnp.nan)
        dead_n, sat_n, units = dead_n + dead, sat_n + sat, units + n_units
    out["dead_fraction"] = dead_n / units
    out["saturated_fraction"] = sat_n / units
    return out
