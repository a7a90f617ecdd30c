"""Recipes built from sweeps: transfer learning and greedy layer-wise pretraining.

Both reuse trained hidden layers as the initial parameters of a new sweep
(``run(spec, init_params=...)``) and keep some of them fixed with ``train.freeze``, which is
per-variant data in the engine. So every repeat (a ``seed`` axis) and every arm of a study
(scratch, fine-tuned, fixed...) trains in one vectorized program; only steps that depend on
each other (train the source, then the target; depth ``k``, then depth ``k + 1``) run one
after the other.

* :func:`transplant`: ``plan.initial_params()`` with the first ``k`` hidden layers (and,
  when asked, the output layer) of chosen variants replaced by trained ones.
* :func:`transfer`: train a source problem, then the target problem from scratch, fine-tuned
  (all transferred layers trainable) and with the first ``k`` layers fixed, all repeats in
  one program.
* :func:`greedy_pretraining`: add a hidden layer, train it (earlier layers fixed), repeat;
  supervised (the classifier itself) and unsupervised (an autoencoder reconstructing its
  input, whose hidden layers then feed a new output layer), with a from-scratch network of
  the same depth alongside; evaluated at every depth.

Both default to the book's procedure (Better Deep Learning's code): the transfer starts
every target variant from **one** source model (``load_model``: its output layer comes
along), and each pretraining stage **reuses** the previous stage's output (or
reconstruction) layer on top of the new hidden layer (``model.pop()``, add a layer, add the
old output layer back). The alternatives are options: ``reuse_output=False`` gives every
stage (and every transferred network) a freshly initialised output layer;
``select="best"`` picks the source model by its validation ``monitor`` (give the source a
validation split of its training data, never the test data); ``select="paired"`` pairs
target repeat ``i`` with source variant ``i``.

Example:
  >>> source = Sweep(data=DataConfig("blobs", options={"random_state": 1}, train_size=500),
  ...                model=ModelConfig(hidden=(5,) * 5), grid={"seed": list(range(30))})
  >>> target = dataclasses.replace(source, data=DataConfig("blobs", train_size=500))
  >>> out = transfer(source, target, fixed=(1, 3, 5))                  # doctest: +SKIP
  >>> out.summary.groupby("arm").final_val_accuracy.mean()             # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from jaxlab import conventions
from jaxlab import data as data_lib
from jaxlab.errors import check

if TYPE_CHECKING:  # JAX loads when a recipe runs (``jaxlab list`` imports the studies)
    from jaxlab.config import Sweep
    from jaxlab.results import Result

Params = Any  # pure-dict parameter pytree: {"hidden": {l: {"kernel", "bias"}}, "out": {...}}

ARM = "recipe.arm"  # the column that names each variant's arm in a recipe's result
SCRATCH, FINE_TUNED = "scratch", "fine-tuned"
SUPERVISED, UNSUPERVISED = "supervised", "unsupervised"


class Runner(Protocol):
    """Trains a sweep: :func:`jaxlab.api.run` or a wrapper that also saves and logs it."""

    def __call__(self, spec: Sweep, *, init_params: Any = None,
                 dataset: data_lib.Dataset | None = None) -> Result: ...


def _default_runner(spec: Sweep, *, init_params: Any = None,
                    dataset: data_lib.Dataset | None = None) -> Result:
    from jaxlab import api

    return api.run(spec, init_params=init_params, dataset=dataset)


def fixed_name(k: int) -> str:
    """The arm of a transfer whose first ``k`` hidden layers are fixed: ``"fixed-k"``."""
    return f"fixed-{k}"


# -- parameters -----------------------------------------------------------------------------------
def transplant(plan, sources: Mapping[int, Params],
               layers: Mapping[int, int] | int,
               output: Mapping[int, bool] | bool = False) -> list[Params]:
    """Initial parameters of ``plan`` with trained hidden layers copied in.

    Args:
      plan: the target sweep's :class:`jaxlab.sweep.Plan` (``api.plan(spec)``).
      sources: sweep index of a target variant -> trained parameters at their own size
        (``Result.params(i)``). Variants not listed keep the plan's own initialisation.
      layers: how many leading hidden layers to copy, for all listed variants or per index.
        Batch-norm scale and offset of those layers come along; running statistics restart.
      output: also copy the source's output layer (``(width_k, n_out)`` kernel and bias),
        for all listed variants or per index; the source's last hidden layer must then be
        as wide as the target's.

    Returns:
      One pytree per group, leaves ``(V, ...)`` padded as in ``plan.initial_params()``: pass
      it to ``run(spec, init_params=...)``. Hidden layers past ``k`` (and the output layer
      unless ``output``) keep the plan's initialisation (fresh weights).

    Raises:
      ConfigError: a source layer's shape differs from the target variant's layer (other
        input size, width, outputs or fewer layers than asked for).
    """
    out = []
    for group, init in zip(plan.groups, plan.initial_params(), strict=True):
        import jax

        params = jax.tree.map(np.array, init)  # writable host copies; the plan's stay intact
        n_in = group.program.arch.n_in
        for j, v in enumerate(group.variants):
            if v.index not in sources:
                continue
            k = layers if isinstance(layers, int) else layers.get(v.index, 0)
            widths = v.model.widths
            src = sources[v.index]
            check(0 <= k <= len(widths), "layers", k,
                  f"variant {v.index} has {len(widths)} hidden layers")
            check(k <= len(src["hidden"]), "layers", k,
                  f"the source of variant {v.index} has {len(src['hidden'])} hidden layers")
            for l in range(k):
                rows = n_in if l == 0 else widths[l - 1]
                kernel = np.asarray(src["hidden"][l]["kernel"])
                check(kernel.shape == (rows, widths[l]), f"hidden layer {l + 1}",
                      f"shape {kernel.shape}",
                      f"does not fit variant {v.index}, whose layer is {(rows, widths[l])}")
                params["hidden"][l]["kernel"][j, :rows, : widths[l]] = kernel
                params["hidden"][l]["bias"][j, : widths[l]] = src["hidden"][l]["bias"]
                if "norms" in params and "norms" in src:
                    for name in ("scale", "bias"):
                        params["norms"][l][name][j, : widths[l]] = src["norms"][l][name]
            reuse = output if isinstance(output, bool) else output.get(v.index, False)
            if reuse:
                kernel = np.asarray(src["out"]["kernel"])
                shape = (widths[-1] if widths else n_in, group.program.arch.n_out)
                check(kernel.shape == shape, "output layer", f"shape {kernel.shape}",
                      f"does not fit variant {v.index}, whose output layer is {shape}")
                params["out"]["kernel"][j, : shape[0], :] = kernel
                params["out"]["bias"][j, :] = src["out"]["bias"]
        out.append(params)
    return out


def with_arms(result: Result, arms: Sequence[str]) -> Result:
    """``result`` with an ``recipe.arm`` column (one name per variant) in ``variants`` and
    ``history``, so that plots and tables can group by it like any swept axis."""
    check(len(arms) == len(result), "arms", len(arms), f"expected one per variant ({len(result)})")
    arm_of = dict(zip(result.variants["variant"], arms, strict=True))
    variants = result.variants.copy()
    variants.insert(1, ARM, [arm_of[i] for i in variants["variant"]])
    history = result.history.copy()
    history.insert(2, ARM, history["variant"].map(arm_of))
    return dataclasses.replace(result, variants=variants, history=history)


def _arms_sweep(spec: Sweep, freezes: Sequence[int], name: str) -> Sweep:
    """``spec`` with a zip axis ``train.freeze`` (one entry per arm) after its grid axes.

    Variant ``i`` of the result is then arm ``i % len(freezes)`` of grid point
    ``i // len(freezes)`` (the grid is the outer product, see :meth:`Sweep.points`).
    """
    check(not spec.zip and not spec.random, "sweep", spec.name,
          "a recipe's base sweep takes grid axes only (e.g. seed); it adds its own zip axis")
    check("freeze" not in {k.rpartition(".")[2] for k in spec.grid}, "sweep.grid", "freeze",
          "the recipe sets train.freeze itself")
    return dataclasses.replace(spec, zip={"freeze": list(freezes)}, name=name)


def _same_grid(a: Sweep, b: Sweep, field: str) -> None:
    """Refuse two sweeps whose grid points differ (variant ``i`` of one pairs with ``i``)."""
    norm = {k: list(v) for k, v in a.grid.items()}
    check(norm == {k: list(v) for k, v in b.grid.items()} and not a.zip and not a.random,
          field, sorted(b.grid), f"must have the same grid axes and values as {sorted(a.grid)} "
          "and no zip or random axes (variant i of one is paired with variant i of the other)")


def _summary(result: Result, **columns: Sequence) -> pd.DataFrame:
    """One row per variant: ``columns``, swept values, status, final metrics."""
    have = result.variants.columns
    axes = [a for a in conventions.swept_axes(have) if a != ARM]
    keep = ["variant", *axes, "status",
            *(conventions.summary_column("final", m) for m in conventions.summarized(have))]
    table = result.variants[keep].reset_index(drop=True)
    for i, (name, values) in enumerate(columns.items()):
        table.insert(1 + i, name, list(values))
    return table


# -- transfer learning ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Transfer:
    """What :func:`transfer` produced.

    Attributes:
      source: the source problem's result.
      target: the target problem's result, with a ``recipe.arm`` column: ``scratch``,
        ``fine-tuned``, ``fixed-k``.
      summary: one row per target variant: arm, swept values, status, final metrics.
      chosen: the source variant every target variant started from (``None``: paired).
      reuse_output: whether the transferred networks kept the source's output layer.
    """

    source: Result
    target: Result
    summary: pd.DataFrame
    chosen: int | None = None
    reuse_output: bool = True


SELECT = ("first", "best", "paired")


def transfer(source: Sweep, target: Sweep, *, fixed: Sequence[int] = (1,),
             copy: int | None = None, select: str = "first", monitor: str = "val_accuracy",
             reuse_output: bool = True, run: Runner = _default_runner) -> Transfer:
    """Transfer learning: train ``source``, then ``target`` from scratch, fine-tuned and fixed.

    Every grid point of ``target`` (e.g. every seed) gets one variant per arm, all in one
    program: ``scratch`` (the plan's own initialisation), ``fine-tuned`` (the first ``copy``
    hidden layers of a trained source variant, all trainable) and, for each ``k`` in
    ``fixed``, ``fixed-k`` (the same transferred weights, the first ``k`` hidden layers kept
    fixed). As in the book, the transferred networks keep the source's output layer
    (trainable; the problems share their classes) unless ``reuse_output=False``.

    Args:
      source: the source problem's sweep (e.g. a ``seed`` axis to choose from).
      target: the target problem's sweep, grid axes only (e.g. ``seed``: the repeats), with
        the source's hidden layers.
      fixed: the numbers of leading hidden layers to keep fixed, one arm each.
      copy: hidden layers transferred (default: all of them).
      select: ``"first"`` (the book's): every target variant starts from source variant 0,
        one trained model (give the source one seed); ``"best"``: from the source variant
        with the best final ``monitor`` on the source's validation data (a split of its
        training data: selecting on test data biases every number after it);
        ``"paired"``: target grid point ``i`` starts from source variant ``i`` (the grids
        must then be equal).
      monitor: the metric that picks the best source variant (``select="best"``).
      reuse_output: keep the source's output layer (the book's ``load_model``); ``False``:
        a freshly initialised output layer.
      run: how to train a sweep (default :func:`jaxlab.api.run`).

    Returns:
      A :class:`Transfer`. Two compiled programs: the source's and the target's.
    """
    check(select in SELECT, "select", select, f"expected one of {SELECT}")
    if select == "paired":
        _same_grid(source, target, "target.grid")
    copy = len(target.model.widths) if copy is None else copy
    for k in fixed:
        check(1 <= k <= copy, "fixed", k, f"can fix 1..{copy} transferred layers")
    src = run(source)
    arms = [SCRATCH, FINE_TUNED, *(fixed_name(k) for k in fixed)]
    spec = _arms_sweep(target, [0, 0, *fixed], target.name)
    from jaxlab import api

    plan = api.plan(spec)
    arm_of = [arms[v.index % len(arms)] for v in plan.variants]
    chosen = {"first": 0, "best": src.best(monitor) if select == "best" else None,
              "paired": None}[select]
    picked = {v.index: chosen if chosen is not None else v.index // len(arms)
              for v in plan.variants if arm_of[v.index] != SCRATCH}
    warn_diverged(src, picked.values(), f"transfer source {source.name!r}")
    sources = {i: src.params(j) for i, j in picked.items()}
    init = transplant(plan, sources, copy, output=reuse_output)
    tgt = with_arms(run(spec, init_params=init), arm_of)
    return Transfer(source=src, target=tgt, summary=_summary(tgt, arm=arm_of), chosen=chosen,
                    reuse_output=reuse_output)


def warn_diverged(result: Result, variants: Iterable[int], stage: str) -> None:
    """Warn that a next stage continues from ``variants`` of ``result`` that diverged: their
    weights are the last finite ones, not a trained model (their metrics are NaN)."""
    status = result.variants.status
    bad = sorted({int(i) for i in variants if status.loc[int(i)] == "diverged"})
    if bad:
        warnings.warn(f"{stage}: variant(s) {bad} diverged; the next stage continues from "
                      "their last finite weights", RuntimeWarning, stacklevel=3)


# -- greedy layer-wise pretraining ----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Pretraining:
    """What :func:`greedy_pretraining` produced.

    Attributes:
      stages: per depth ``1..K``, the classifier result with a ``recipe.arm`` column
        (``supervised``, ``unsupervised``, ``scratch``).
      autoencoders: per depth, the autoencoder result (empty without the unsupervised arm).
      summary: one row per (depth, variant): depth, arm, swept values, status, final metrics.
      reuse_output: whether each stage reused the previous stage's output (reconstruction)
        layer.
    """

    stages: tuple[Result, ...]
    autoencoders: tuple[Result, ...]
    summary: pd.DataFrame
    reuse_output: bool = True


def autoencoder_data(ds: data_lib.Dataset) -> data_lib.Dataset:
    """The reconstruction problem of ``ds``: inputs are also the (regression) targets."""
    return data_lib.from_arrays(ds.x_train, ds.x_train, ds.x_val, ds.x_val, task="regression",
                                name=f"{ds.name}-autoencoder")


def _deepen(spec: Sweep, depth: int, name: str, **train: Any) -> Sweep:
    widths = spec.model.widths
    check(len(set(widths)) == 1, "model.hidden", widths,
          "greedy pretraining stacks layers of one width; give model.width")
    check(not ({k.rpartition(".")[2] for k in spec.grid} & {"width", "depth", "hidden"}),
          "sweep.grid", sorted(spec.grid), "greedy pretraining sets the depth itself")
    model = dataclasses.replace(spec.model, hidden=(widths[0],) * depth)
    return dataclasses.replace(spec, model=model, name=name,
                               train=dataclasses.replace(spec.train, **train))


def greedy_pretraining(spec: Sweep, *, depth: int,
                       arms: Sequence[str] = (SUPERVISED, UNSUPERVISED, SCRATCH),
                       autoencoder: Mapping[str, Any] | None = None,
                       reuse_output: bool = True,
                       run: Runner = _default_runner) -> Pretraining:
    """Greedy layer-wise pretraining, supervised and unsupervised, evaluated at every depth.

    For ``k = 1..depth`` one classifier sweep of depth ``k`` trains every arm and every grid
    point of ``spec`` in one program:

    * ``supervised``: hidden layers ``1..k-1`` from the supervised network of depth ``k-1``,
      kept fixed; layer ``k`` new; the output layer that of depth ``k-1`` (the book's
      ``add_layer``; new with ``reuse_output=False``); both trained;
    * ``unsupervised``: hidden layers ``1..k`` from the autoencoder of depth ``k``, kept
      fixed; a new output layer trained on the labels. The autoencoder of depth ``k`` is a
      regression MLP reconstructing its input (:func:`autoencoder_data`) whose layers
      ``1..k-1`` come from the autoencoder of depth ``k-1`` and stay fixed, and whose
      reconstruction layer is that of depth ``k-1`` (the book's
      ``add_layer_to_autoencoder``; new with ``reuse_output=False``);
    * ``scratch``: a network of depth ``k`` trained from its own initialisation.

    Args:
      spec: the classifier sweep: data, one hidden width, training settings, grid axes
        (e.g. ``seed``). Its depth is ignored.
      depth: the deepest network ``K``.
      arms: which of ``supervised``, ``unsupervised``, ``scratch`` to train.
      autoencoder: :class:`~jaxlab.config.TrainConfig` fields for the autoencoders
        (default: ``spec``'s training settings with ``loss="mse"``, as in the book).
      reuse_output: reuse the previous stage's output and reconstruction layers (the
        book's procedure); ``False``: initialise them afresh at every stage.
      run: how to train a sweep (default :func:`jaxlab.api.run`).

    Returns:
      A :class:`Pretraining`: ``2 * depth`` compiled programs with the unsupervised arm,
      ``depth`` without.
    """
    from jaxlab import api

    arms = list(arms)
    for arm in arms:
        check(arm in (SUPERVISED, UNSUPERVISED, SCRATCH), "arms", arm,
              f"expected {SUPERVISED}, {UNSUPERVISED} or {SCRATCH}")
    check(bool(arms) and len(set(arms)) == len(arms), "arms", arms, "name each arm once")
    check(isinstance(depth, int) and depth >= 1, "depth", depth, "must be an integer >= 1")
    ae_data = autoencoder_data(data_lib.load(spec.data)) if UNSUPERVISED in arms else None
    ae_train = {"loss": "mse", "metrics": "auto", "early_stopping": False,
                **(autoencoder or {})}
    freeze_of = {SUPERVISED: lambda k: k - 1, UNSUPERVISED: lambda k: k, SCRATCH: lambda k: 0}
    stages, autoencoders, tables = [], [], []
    for k in range(1, depth + 1):
        if ae_data is not None:
            # Variant i of every autoencoder is grid point i.
            ae_spec = _deepen(spec, k, f"{spec.name}-autoencoder-{k}", freeze=k - 1,
                              **ae_train)
            init = None
            if autoencoders:
                warn_diverged(autoencoders[-1], range(len(autoencoders[-1])),
                              f"autoencoder of depth {k - 1}")
                ae_plan = api.plan(ae_spec, dataset=ae_data)
                init = transplant(ae_plan, {v.index: autoencoders[-1].params(v.index)
                                            for v in ae_plan.variants}, k - 1,
                                  output=reuse_output)
            autoencoders.append(run(ae_spec, init_params=init, dataset=ae_data))
        name = f"{spec.name}-depth-{k}"
        stage = _arms_sweep(_deepen(spec, k, name), [freeze_of[a](k) for a in arms], name)
        plan = api.plan(stage)
        # Variant i of every stage is arm i % len(arms) of grid point i // len(arms).
        arm_of = [arms[v.index % len(arms)] for v in plan.variants]
        sources, layers, output = {}, {}, {}
        for v in plan.variants:
            if arm_of[v.index] == SUPERVISED and stages:
                sources[v.index], layers[v.index] = stages[-1].params(v.index), k - 1
                output[v.index] = reuse_output
            elif arm_of[v.index] == UNSUPERVISED:
                point = v.index // len(arms)
                sources[v.index], layers[v.index] = autoencoders[-1].params(point), k
        if stages:
            warn_diverged(stages[-1], [v.index for v in plan.variants
                                       if arm_of[v.index] == SUPERVISED], f"stage of depth {k - 1}")
        if autoencoders:
            warn_diverged(autoencoders[-1], {v.index // len(arms) for v in plan.variants
                                             if arm_of[v.index] == UNSUPERVISED},
                          f"autoencoder of depth {k}")
        init = transplant(plan, sources, layers, output) if sources else None
        stages.append(with_arms(run(stage, init_params=init), arm_of))
        tables.append(_summary(stages[-1], depth=[k] * len(plan.variants), arm=arm_of))
    return Pretraining(stages=tuple(stages), autoencoders=tuple(autoencoders),
                       summary=pd.concat(tables, ignore_index=True), reuse_output=reuse_output)


__all__ = [
    "ARM", "FINE_TUNED", "SCRATCH", "SELECT", "SUPERVISED", "UNSUPERVISED", "Pretraining",
    "Runner",
    "Transfer", "autoencoder_data", "fixed_name", "greedy_pretraining", "transfer",
    "transplant", "with_arms",
]
