"""The open core against an independent plain Flax NNX + Optax loop (tests/reference_open.py).

Any NNX module (``ModelConfig(module=...)``) and any Optax optimizer
(``TrainConfig(optimizer=...)``) train in a sweep. Every variant's final parameters must
agree with the reference to 1e-9 relative in float64, as in test_exactness.py.

Each variant's settings are resolved here from the plain dicts in ``CASES`` (grid-major
cartesian product, declaration order), not read back from jaxlab. Its initial parameters
come from the documented rule (the module's own initializers, ``rngs=nnx.Rngs(fold_in(
PRNGKey(seed), 0))``), not from jaxlab, and ``plan().initial_params()`` is checked against
them. The tests named ``test_reference_*`` check the reference on its own (closed forms,
the loss falls, clipping is active) and need nothing of the open core.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxlab as jl
from tests import reference_open
from tests.models_for_tests import SmallCNN, TinyMLP, clip_each_tensor, clipped_momentum
from tests.reference import shuffle_order

pytestmark = pytest.mark.xdist_group("exactness")


@pytest.fixture(autouse=True)
def x64(request):
    enable = "float32" not in request.node.name
    with jax.enable_x64(enable):
        yield


# -- the sweeps, as plain data --------------------------------------------------------------
N = 50  # 7 and 16 leave ragged last batches (1 and 2 samples); 50 is full-batch
DATA = dict(name="digits", train_size=N, limit_val=10, dtype="float64")  # 8x8 images
COMMON = dict(loss="categorical_crossentropy", metrics=("accuracy",), dtype="float64",
              epochs=3, batch_size=16, shuffle=True, seed=0, learning_rate=0.1)


# The reference's optimizers: plain optax, as functions of their float hyperparameters
# (defaults: optax's own). Each variant's values are looked up by these parameter names.
def _sgd(learning_rate, momentum):
    return optax.sgd(learning_rate, momentum=momentum)


def _lion(learning_rate, b1=0.9, b2=0.99, weight_decay=1e-3):
    return optax.lion(learning_rate, b1=b1, b2=b2, weight_decay=weight_decay)


def _clip_then_sgd(learning_rate, momentum, clip_tensor_norm):
    """A built-in optimizer after ``train.clip_tensor_norm``."""
    return optax.chain(reference_open.clip_by_tensor_norm(clip_tensor_norm),
                       optax.sgd(learning_rate, momentum=momentum))


def _clipped_momentum(learning_rate, max_norm, momentum):
    """The user's ``clipped_momentum``, rebuilt from the reference's own pieces."""
    return optax.chain(reference_open.clip_by_tensor_norm(max_norm),
                       optax.sgd(learning_rate, momentum=momentum))


def hparams_of(make_tx, s: dict) -> dict[str, float]:
    """``make_tx``'s hyperparameters for settings ``s``: optimizer options first, then the
    train fields, then ``make_tx``'s defaults."""
    out = {}
    for name, p in inspect.signature(make_tx).parameters.items():
        value = s["optimizer_options"].get(name, s.get(name, p.default))
        assert value is not inspect.Parameter.empty and value is not None, name
        out[name] = float(value)
    return out


CASES = {
    # 1. A user CNN: learning rate x seed x batch size, shuffled, momentum.
    "cnn": dict(module=SmallCNN, options={"features": 3},
                train=dict(optimizer="momentum", momentum=0.9),
                grid={"learning_rate": [0.02, 0.1], "seed": [0, 1], "batch_size": [7, 16, 50]},
                tx=_sgd),
    # 1b. Module options are structure: two groups, each from its own initializers.
    "features": dict(module="tests.models_for_tests:SmallCNN",
                     train=dict(optimizer="sgd", momentum=0.0, epochs=2, seed=3),
                     grid={"model.options.features": [3, 4]}, tx=_sgd),
    # 2. optax.lion by name: learning rate x b1 x weight decay.
    "lion": dict(module=SmallCNN, options={"features": 3},
                 train=dict(optimizer="optax:lion", optimizer_options={"b2": 0.99}),
                 grid={"learning_rate": [1e-3, 3e-3], "train.optimizer_options.b1": [0.8, 0.95],
                       "train.optimizer_options.weight_decay": [0.0, 0.1]},
                 tx=_lion),
    # 3. A user optax.chain factory: both of its float options swept.
    "clipped_momentum": dict(module=TinyMLP, options={"hidden": 8},
                             train=dict(optimizer=clipped_momentum, learning_rate=0.2),
                             grid={"train.optimizer_options.max_norm": [0.3, 1.0],
                                   "train.optimizer_options.momentum": [0.0, 0.9]},
                             tx=_clipped_momentum, clip="train.optimizer_options.max_norm"),
    # 3b. train.clip_tensor_norm before the built-in momentum optimizer.
    "clip_tensor_norm": dict(module=SmallCNN, options={"features": 3},
                             train=dict(optimizer="momentum", momentum=0.9, learning_rate=0.1),
                             grid={"train.clip_tensor_norm": [0.15, 0.5, 100.0]},
                             tx=_clip_then_sgd, clip="train.clip_tensor_norm"),
    # 4. The lion sweep again, every float changed (swept and base options): no recompile.
    "lion_new_values": dict(module=SmallCNN, options={"features": 3},
                            train=dict(optimizer="optax:lion", optimizer_options={"b2": 0.98}),
                            grid={"learning_rate": [4e-3, 2e-3],
                                  "train.optimizer_options.b1": [0.9, 0.6],
                                  "train.optimizer_options.weight_decay": [0.05, 0.2]},
                            tx=_lion),
}


def resolve(factory):
    """``"package.module:Name"`` -> the object; a callable is returned as is."""
    if callable(factory):
        return factory
    module, _, name = factory.partition(":")
    return getattr(importlib.import_module(module), name)


def variants_of(case: dict) -> list[dict]:
    """Every variant's settings, in sweep order (grid-major, axes in declaration order)."""
    base = {**COMMON, **case["train"], "clip_tensor_norm": None}
    base.setdefault("momentum", 0.0)
    base.setdefault("optimizer_options", {})
    out = []
    for combo in itertools.product(*case["grid"].values()):
        s = {**base, "optimizer_options": dict(base["optimizer_options"]),
             "options": dict(case.get("options", {})), "factory": resolve(case["module"])}
        for key, value in zip(case["grid"], combo, strict=True):
            if key.startswith("model.options."):
                s["options"][key.removeprefix("model.options.")] = value
            elif key.startswith("train.optimizer_options."):
                s["optimizer_options"][key.removeprefix("train.optimizer_options.")] = value
            else:
                s[key.removeprefix("train.")] = value
        out.append(s)
    return out


def spec_of(case: dict, **train) -> jl.Sweep:
    t = {**COMMON, **case["train"], **train}
    return jl.Sweep(data=jl.DataConfig(**DATA),
                    model=jl.ModelConfig(module=case["module"], options=case.get("options", {})),
                    train=jl.TrainConfig(**t), grid=case["grid"])


@functools.cache
def data():
    """``(x (N, 64), one-hot y (N, 10))`` in float64."""
    ds = jl.load(jl.DataConfig(**DATA))
    x = np.asarray(ds.x_train, np.float64)
    return x, np.eye(ds.n_classes)[ds.y_train].astype(np.float64)


@functools.cache
def reference(name: str) -> list[dict]:
    """Every variant of ``CASES[name]`` trained by the reference: settings, init, final, log."""
    case = CASES[name]
    x, y = data()
    out = []
    with jax.enable_x64(True):
        for s in variants_of(case):
            p0 = reference_open.init_params(s["factory"], n_in=x.shape[1], n_out=y.shape[1],
                                            seed=s["seed"], options=s["options"])
            final, log = reference_open.train(
                s["factory"], p0, x, y, make_tx=case["tx"], hparams=hparams_of(case["tx"], s),
                batch_size=s["batch_size"], epochs=s["epochs"], seed=s["seed"],
                shuffle=s["shuffle"], options=s["options"], record_grad_norms="clip" in case)
            out.append(dict(settings=s, init=p0, final=final, log=log))
    return out


def _describe(s: dict) -> str:
    keys = ("learning_rate", "seed", "batch_size", "clip_tensor_norm")
    return str({**{k: s[k] for k in keys}, **s["options"], **s["optimizer_options"]})


def checked_reference(name: str) -> list[dict]:
    """``reference(name)``, checked on its own: the loss falls, parameters move, batches
    are right, seeds matter, and where a test is about clipping, the clip is active for some
    tensors only (so per-tensor and global clipping differ)."""
    refs = reference(name)
    assert len(refs) == math.prod(len(v) for v in CASES[name]["grid"].values())
    for ref in refs:
        s, log = ref["settings"], ref["log"]
        what = f"{name} {_describe(s)}"
        assert np.all(np.isfinite(log["loss"])), what
        assert log["loss"][-1] < 0.99 * log["loss"][0], f"{what}: loss {log['loss']}"
        assert_moved(ref, what)
        full, last = divmod(N, s["batch_size"])
        assert log["batch_sizes"] == ([s["batch_size"]] * full + [last] * (last > 0)) * s["epochs"]
    if "clip" in CASES[name]:
        axis = CASES[name]["clip"]
        for ref in refs:
            s = ref["settings"]
            c = (s["optimizer_options"]["max_norm"] if "optimizer_options" in axis
                 else s["clip_tensor_norm"])
            norms = [n for step in ref["log"]["grad_norms"] for n in step.values()]
            above = sum(n > c for n in norms)
            if c < 100:
                # Active for some tensors, not all: per-tensor differs from global clipping.
                assert 0 < above < len(norms), f"{name} c={c}: {above}/{len(norms)} clipped"
            else:
                assert above == 0, f"c={c} should never clip"
    # Different seeds start from different parameters, equal seeds from equal ones.
    by_seed: dict = {}
    for ref in refs:
        key = (ref["settings"]["seed"], tuple(sorted(ref["settings"]["options"].items())))
        by_seed.setdefault(key, []).append(flat(ref["init"]))
    for inits in by_seed.values():
        for other in inits[1:]:
            assert all(np.array_equal(other[k], inits[0][k]) for k in other)
    if name == "cnn":
        a, b = (by_seed[(seed, (("features", 3),))][0] for seed in (0, 1))
        assert not np.array_equal(a["['conv']['kernel']"], b["['conv']['kernel']"])
    return refs


# -- comparison helpers ---------------------------------------------------------------------
def flat(tree) -> dict[str, np.ndarray]:
    """``{path: array}``; any mapping counts as a dict (a State and a pure dict compare)."""

    def plain(t):
        if hasattr(t, "items"):
            return {k: plain(v) for k, v in t.items()}
        return np.asarray(t)

    leaves = jax.tree_util.tree_flatten_with_path(plain(tree))[0]
    return {jax.tree_util.keystr(path): leaf for path, leaf in leaves}


def assert_close(got, want, rtol: float, what: str) -> float:
    """Max relative error of ``got`` vs ``want`` (per leaf, relative to the leaf's scale)."""
    got, want = flat(got), flat(want)
    assert got.keys() == want.keys(), f"{what}: parameters {sorted(got)} != {sorted(want)}"
    # A leaf that is ~0 (a zero-initialized bias early on) is compared relative to 1e-3 of
    # the model's largest parameter instead of itself.
    floor = 1e-3 * max(np.max(np.abs(b)) for b in want.values())
    worst = 0.0
    for k, b in want.items():
        a = np.asarray(got[k], np.float64)
        assert a.shape == b.shape, f"{what} {k}: shape {a.shape} != {b.shape}"
        err = np.max(np.abs(a - b)) / max(np.max(np.abs(b)), floor)
        assert err <= rtol, f"{what} {k}: relative error {err:.3g} > {rtol}"
        worst = max(worst, err)
    return worst


def assert_moved(ref: dict, what: str) -> None:
    """The final parameters are not the initial ones (a no-op run cannot pass)."""
    init, final = flat(ref["init"]), flat(ref["final"])
    scale = max(np.max(np.abs(a)) for a in init.values())
    moved = max(np.max(np.abs(final[k] - init[k])) for k in init) / scale
    assert moved > 1e-3, f"{what}: parameters moved only {moved:.3g} (relative)"


def compare(result, refs: list[dict], rtol: float = 1e-9) -> float:
    assert len(result.variants) == len(refs), "one row per variant in result.variants"
    worst = 0.0
    for i, ref in enumerate(refs):
        what = f"variant {i} {_describe(ref['settings'])}"
        worst = max(worst, assert_close(result.params(i), ref["final"], rtol, what))
    return worst


def check_initial_params(plan, refs: list[dict]) -> None:
    """``plan.initial_params()``: per group, a leading variant axis, the module's own init."""
    init = plan.initial_params()
    assert len(init) == len(plan.groups)
    for gi, g in enumerate(plan.groups):
        for j, v in enumerate(g.variants):
            got = jax.tree.map(lambda a, j=j: np.asarray(a)[j], init[gi])
            want = refs[v.index]["init"]
            for k, a in flat(got).items():
                assert a.dtype == np.float64, f"initial {k} of variant {v.index}: {a.dtype}"
            # Exact: both are the module's own (float32) initializers, cast to float64.
            assert_close(got, want, 0.0, f"initial params of variant {v.index}")


EVENTS = ("/jax/core/compile/jaxpr_to_mlir_module_duration",
          "/jax/core/compile/backend_compile_duration")


@contextlib.contextmanager
def compiled_programs():
    """Collect ``"event: program"`` for every lowering and XLA backend compile in the block.

    Lowerings are counted too: a persistent compilation cache left on by an earlier test in
    this process would turn a recompile into a cache read (no backend compile event), but
    the program is still re-traced and lowered.
    """
    seen: list[str] = []

    def listener(event, duration, **kwargs):
        del duration
        if event in EVENTS:
            seen.append(f"{event.rsplit('/', 1)[1]}: {kwargs.get('fun_name')}")

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


# -- the reference on its own (needs nothing of the open core) ------------------------------
def test_reference_batches_and_shuffle():
    x, _ = data()
    assert x.shape == (N, 64)
    for b, sizes in ((7, [7] * 7 + [1]), (16, [16, 16, 16, 2]), (50, [50])):
        for epoch in range(2):
            idx = reference_open.batches(N, b, seed=1, epoch=epoch, shuffle=True)
            assert [len(i) for i in idx] == sizes
            np.testing.assert_array_equal(np.sort(np.concatenate(idx)), np.arange(N))
    e0, e1 = (np.concatenate(reference_open.batches(N, 7, seed=1, epoch=e, shuffle=True))
              for e in (0, 1))
    assert not np.array_equal(e0, e1), "each epoch has its own order"
    np.testing.assert_array_equal(
        np.concatenate(reference_open.batches(N, 16, seed=1, epoch=0, shuffle=False)),
        np.arange(N))


def test_reference_init_is_the_modules_own():
    x, y = data()
    kw = dict(n_in=x.shape[1], n_out=y.shape[1], options={"features": 3})
    a, b, a2 = (reference_open.init_params(SmallCNN, seed=s, **kw) for s in (0, 1, 0))
    assert all(v.dtype == np.float64 for v in flat(a).values())
    assert flat(a)["['conv']['kernel']"].shape == (3, 3, 1, 3)
    assert flat(a)["['head']['kernel']"].shape == (3 * 4 * 4, 10)
    assert_close(a2, a, 0.0, "same seed")
    assert not np.array_equal(flat(a)["['conv']['kernel']"], flat(b)["['conv']['kernel']"])
    # The documented rule, spelled out once more without the helper.
    module = SmallCNN(n_in=64, n_out=10, features=3,
                      rngs=nnx.Rngs(jax.random.fold_in(jax.random.PRNGKey(1), 0)))
    assert_close(nnx.to_pure_dict(nnx.state(module, nnx.Param)), b, 0.0, "seed 1")


def test_reference_gradient_closed_form():
    """The batch loss is the mean softmax cross-entropy: check the head's gradient."""
    x, y = data()
    idx = np.arange(7)  # a batch of 7
    kw = dict(n_in=64, n_out=10, options={"features": 3})
    params = reference_open.init_params(SmallCNN, seed=2, **kw)
    loss, g = reference_open.loss_and_grad(SmallCNN, params, x[idx], y[idx],
                                           options=kw["options"])
    graphdef, p = reference_open.split(SmallCNN, params, **kw)
    feats = np.asarray(nnx.merge(graphdef, p).embed(jnp.asarray(x[idx])))
    assert feats.dtype == np.float64 and feats.shape == (7, 3 * 4 * 4)
    z = feats @ params["head"]["kernel"] + params["head"]["bias"]
    z = z - z.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss, np.mean(-np.sum(y[idx] * np.log(prob), axis=1)), rtol=1e-12)
    np.testing.assert_allclose(g["head"]["kernel"], feats.T @ (prob - y[idx]) / 7, rtol=1e-10,
                               atol=1e-15)
    np.testing.assert_allclose(g["head"]["bias"], np.mean(prob - y[idx], axis=0), rtol=1e-10,
                               atol=1e-15)


def test_reference_one_step_closed_forms():
    """One full-batch step of SGD, and of Lion from zero momentum, written out."""
    x, y = data()
    options = {"hidden": 8}
    p0 = reference_open.init_params(TinyMLP, n_in=64, n_out=10, seed=4, options=options)
    _, g = reference_open.loss_and_grad(TinyMLP, p0, x, y, options=options)
    one = dict(batch_size=N, epochs=1, seed=0, shuffle=False, options=options)
    sgd, _ = reference_open.train(TinyMLP, p0, x, y, make_tx=optax.sgd,
                                  hparams={"learning_rate": 0.3}, **one)
    assert_close(sgd, jax.tree.map(lambda p, g: p - 0.3 * g, p0, g), 1e-13, "sgd step")
    lion, _ = reference_open.train(
        TinyMLP, p0, x, y, make_tx=optax.lion,
        hparams=dict(learning_rate=0.01, b1=0.8, b2=0.99, weight_decay=0.5), **one)
    assert_close(lion, jax.tree.map(lambda p, g: p - 0.01 * (np.sign(g) + 0.5 * p), p0, g),
                 1e-13, "lion step")


def test_reference_loop_matches_hand_written_momentum():
    """The loop (shuffled ragged batches, optimizer state carried across them) against
    momentum SGD written in numpy: ``t = g + mu * t; p -= lr * t``."""
    x, y = data()
    options = {"hidden": 8}
    p0 = reference_open.init_params(TinyMLP, n_in=64, n_out=10, seed=5, options=options)
    got, log = reference_open.train(TinyMLP, p0, x, y, make_tx=_sgd,
                                    hparams={"learning_rate": 0.1, "momentum": 0.9},
                                    batch_size=16, epochs=2, seed=5, shuffle=True,
                                    options=options)
    p, t = p0, jax.tree.map(np.zeros_like, p0)
    for epoch in range(2):
        order = shuffle_order(5, epoch, N)
        for start in range(0, N, 16):
            idx = order[start: start + 16]
            _, g = reference_open.loss_and_grad(TinyMLP, p, x[idx], y[idx], options=options)
            t = jax.tree.map(lambda g, t: g + 0.9 * t, g, t)
            p = jax.tree.map(lambda p, t: p - 0.1 * t, p, t)
    assert log["batch_sizes"] == [16, 16, 16, 2] * 2
    assert_close(got, p, 1e-12, "momentum loop")


def test_reference_clip_closed_form():
    g = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([[0.6], [0.8]]), "c": jnp.zeros(3)}
    want = {"a": np.array([1.2, 1.6]), "b": np.array([[0.6], [0.8]]), "c": np.zeros(3)}
    for clip in (reference_open.clip_by_tensor_norm(2.0), clip_each_tensor(2.0)):
        out, _ = clip.update(g, clip.init(g), g)
        assert_close(out, want, 1e-15, "clipped")
    assert reference_open.tensor_norms(g) == {"['a']": 5.0, "['b']": 1.0, "['c']": 0.0}
    # The user's factory is the reference's chain, step for step (so test 3 tests jaxlab).
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(4, 3)), "b": rng.normal(size=(3,))}
    grads = [jax.tree.map(lambda a: 3 * rng.normal(size=a.shape), params) for _ in range(3)]

    @jax.jit
    def three_steps(params, grads):
        out = []
        for tx in (clipped_momentum(0.1, max_norm=0.5, momentum=0.9),
                   _clipped_momentum(0.1, max_norm=0.5, momentum=0.9)):
            p, state = params, tx.init(params)
            for g in grads:
                u, state = tx.update(g, state, p)
                p = optax.apply_updates(p, u)
            out.append(p)
        return out

    user, ref = three_steps(params, grads)
    assert_close(user, ref, 1e-14, "user chain vs reference chain")
    assert not np.allclose(ref["w"], params["w"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_sweeps_learn(name):
    """Every reference sweep used below, on its own (see ``checked_reference``)."""
    checked_reference(name)


def test_compile_counter_sees_new_programs_only():
    f = jax.jit(lambda a: jnp.sin(a) * 3.0 + 0.123456)
    a, b = np.arange(3.0), np.arange(3.0) + 1
    with compiled_programs() as first:
        f(a)
    with compiled_programs() as again:
        f(b)  # new values, same shapes
    assert first and not again, (first, again)


# -- the open core ---------------------------------------------------------------------------
def test_user_cnn_lr_seed_batch_size_float64():
    spec = spec_of(CASES["cnn"])
    refs = checked_reference("cnn")
    plan = jl.plan(spec)
    check_initial_params(plan, refs)
    init = plan.initial_params()
    # Two seeds, two initialisations (variants 0 and 3 differ only by seed).
    assert refs[0]["settings"]["seed"] != refs[3]["settings"]["seed"]
    assert refs[0]["settings"]["batch_size"] == refs[3]["settings"]["batch_size"]
    rows = {v.index: (gi, j) for gi, g in enumerate(plan.groups) for j, v in enumerate(g.variants)}
    k0 = np.asarray(init[rows[0][0]]["conv"]["kernel"])[rows[0][1]]
    k3 = np.asarray(init[rows[3][0]]["conv"]["kernel"])[rows[3][1]]
    assert not np.array_equal(k0, k3)
    compare(jl.run(spec, compilation_cache=False), refs)


def test_module_options_split_groups_float64():
    spec = spec_of(CASES["features"])
    refs = checked_reference("features")
    plan = jl.plan(spec)
    assert len(plan.groups) == 2, "features=3 and features=4 have different shapes"
    check_initial_params(plan, refs)
    compare(jl.run(spec, compilation_cache=False), refs)


def test_optax_lion_by_name_float64():
    compare(jl.run(spec_of(CASES["lion"]), compilation_cache=False), checked_reference("lion"))


@pytest.mark.parametrize("form", ["callable", "string"])
def test_user_chain_factory_float64(form):
    optimizer = (clipped_momentum if form == "callable"
                 else "tests.models_for_tests:clipped_momentum")
    spec = spec_of(CASES["clipped_momentum"], optimizer=optimizer)
    compare(jl.run(spec, compilation_cache=False), checked_reference("clipped_momentum"))


def test_clip_tensor_norm_float64():
    compare(jl.run(spec_of(CASES["clip_tensor_norm"]), compilation_cache=False),
            checked_reference("clip_tensor_norm"))


def test_clip_by_tensor_norm_transform_float64():
    from jaxlab.optim import clip_by_tensor_norm

    g = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([[0.6], [0.8]]), "c": jnp.zeros(3)}
    tx = clip_by_tensor_norm(2.0)
    out, _ = tx.update(g, tx.init(g), g)
    assert_close(out, {"a": np.array([1.2, 1.6]), "b": np.array([[0.6], [0.8]]),
                       "c": np.zeros(3)}, 1e-15, "clip_by_tensor_norm(2)")

    # The threshold is data: vmapped over thresholds in one program.
    def clip(c):
        t = clip_by_tensor_norm(c)
        return t.update(g, t.init(g), g)[0]

    out = jax.vmap(clip)(jnp.array([2.0, 0.5, 10.0]))
    np.testing.assert_allclose(out["a"], [[1.2, 1.6], [0.3, 0.4], [3.0, 4.0]], rtol=1e-15)
    np.testing.assert_allclose(out["b"][:, :, 0], [[0.6, 0.8], [0.3, 0.4], [0.6, 0.8]],
                               rtol=1e-15)


def test_new_hyperparameter_values_do_not_recompile_float64():
    """Swept floats (learning rate, b1, weight decay) and base float options (b2) are data.

    The second sweep has the structure of the first (module, optimizer, shapes, number of
    variants) and only new float values, so it must lower and compile nothing: no training
    program, no initialisation, no evaluation, no helper (0 is what jaxlab's built-in MLP
    achieves today). Both runs are checked against the reference, so a run that kept the
    old values fails too. The first run compiles only if no earlier test in this process
    compiled the same program (test_optax_lion_by_name_float64 does); the counter itself is
    checked by test_compile_counter_sees_new_programs_only.
    """
    r1 = jl.run(spec_of(CASES["lion"]), compilation_cache=False)
    with compiled_programs() as second:
        r2 = jl.run(spec_of(CASES["lion_new_values"]), compilation_cache=False)
    assert second == [], f"new float values recompiled: {second}"
    compare(r1, checked_reference("lion"))
    compare(r2, checked_reference("lion_new_values"))


BAD = {
    "optax name": (dict(train=dict(optimizer="optax:no_such_thing")), "train.optimizer"),
    "optimizer package": (dict(train=dict(optimizer="nosuchpkg.mod:fn")), "train.optimizer"),
    "optimizer attribute": (dict(train=dict(optimizer="tests.models_for_tests:no_such_fn")),
                            "train.optimizer"),
    "builtin name": (dict(train=dict(optimizer="no_such_builtin")), "train.optimizer"),
    "module package": (dict(module="nosuchpkg.mod:Fn"), "model.module"),
    "module attribute": (dict(module="tests.models_for_tests:NoSuchNet"), "model.module"),
    "optimizer option": (dict(train=dict(optimizer="optax:lion",
                                         optimizer_options={"xyz": 0.1})),
                         "train.optimizer_options.xyz"),
    "swept optimizer option": (dict(train=dict(optimizer="optax:lion"),
                                    grid={"train.optimizer_options.xyz": [0.1, 0.2]}),
                               "train.optimizer_options.xyz"),
    "user optimizer option": (dict(train=dict(optimizer=clipped_momentum,
                                              optimizer_options={"xyz": 0.1})),
                              "train.optimizer_options.xyz"),
    "module option": (dict(options={"xyz": 3}), "model.options.xyz"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_factory_is_a_config_error(name):
    change, field = BAD[name]
    case = {**CASES["clipped_momentum"], "grid": {}, "train": {}, **change}
    with compiled_programs() as compiled, pytest.raises(jl.ConfigError) as e:
        jl.plan(spec_of(case))
    assert e.value.field == field, str(e.value)
    assert compiled == [], f"compiled before refusing: {compiled}"
